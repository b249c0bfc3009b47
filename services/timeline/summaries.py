"""Which agency an event type belongs to, for people reading a timeline."""

AGENCIES = {"social": "Dinsos", "public_works": "Dinas PUPR", "education": "Disdik"}


def agency_of(event_type: str) -> str:
    prefix = event_type.split(".", 1)[0]
    return AGENCIES.get(prefix, prefix)
