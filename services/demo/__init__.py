"""The demo: a Dinsos case system publishing households, and the services at work."""
