"""Dinsos: intake, pseudonymisation, assessment rules."""
