"""HTTP intake for agency systems without a Kafka client: validated like the Kafka intake,
written to this service's outbox, relayed to the type's intake topic."""
