"""One timeline per household, projected from every agency's events."""
