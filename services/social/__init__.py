"""Dinsos: intake, pseudonymisation, assessment rules, empowerment, graduation."""
