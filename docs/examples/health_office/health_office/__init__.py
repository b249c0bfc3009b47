"""Dinas Kesehatan's consumer of Sinergi events: plans home visits, imports only ``contracts``."""
