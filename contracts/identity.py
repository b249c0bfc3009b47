"""What a NIK or KK number looks like, so it can be kept out of what leaves Dinsos."""

import re

IDENTITY_NUMBER = re.compile(r"(?<!\d)\d{16}(?!\d)")
"""Sixteen digits standing alone: a NIK or a KK number (or something shaped like one)."""

WITHHELD = "[16 digits withheld]"


def redact(text: str) -> str:
    """``text`` with anything shaped like a NIK or KK number masked."""
    return IDENTITY_NUMBER.sub(WITHHELD, text)
