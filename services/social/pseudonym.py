"""Identity numbers become keyed-hash references here; only the references leave Dinsos."""

import hashlib
import hmac


def _digest(key: bytes, kind: str, number: str) -> str:
    return hmac.new(key, f"{kind}:{number}".encode(), hashlib.sha256).hexdigest()[:32]


def household_ref(key: bytes, kk_number: str) -> str:
    """``h-`` and 32 hex digits of HMAC-SHA256 over the family-card number."""
    return "h-" + _digest(key, "kk", kk_number)


def person_ref(key: bytes, nik: str) -> str:
    """``p-`` and 32 hex digits of HMAC-SHA256 over the NIK."""
    return "p-" + _digest(key, "nik", nik)
