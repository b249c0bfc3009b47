"""Event data models, one module per publishing agency."""
