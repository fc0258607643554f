"""The webhook signature scheme shared by the sandbox (signs) and the relay (verifies).

Header ``X-Signature: t=<unix seconds>,v1=<hex>`` where the hex is HMAC-SHA256 over
``t + "." + raw body``, the Stripe scheme. Verification runs over the raw bytes before
any parsing, compares in constant time and rejects timestamps outside a tolerance.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The signature header is missing, malformed, stale or does not match."""


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``timestamp.body`` under ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Build the value of the signature header for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={compute_signature(secret, timestamp, body)}"


def parse_header(header: str) -> tuple[int, list[str]]:
    """Split a header into its timestamp and its ``v1`` signatures.

    Raises:
        SignatureError: the header has no timestamp or no v1 signature.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError as exc:
                raise SignatureError("malformed timestamp") from exc
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("signature header lacks t= or v1=")
    return timestamp, signatures


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Check ``header`` signs ``body``; return its timestamp.

    Every candidate signature is compared with ``hmac.compare_digest`` so the time taken
    does not reveal how much of a forged signature matched.

    Raises:
        SignatureError: missing, malformed, stale or wrong signature.
    """
    if not header:
        raise SignatureError("missing signature header")
    timestamp, signatures = parse_header(header)
    if abs(now - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance")
    expected = compute_signature(secret, timestamp, body).encode("ascii")
    matched = False
    for candidate in signatures:
        # Bytes, so a non-ASCII candidate is a mismatch rather than a TypeError.
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    if not matched:
        raise SignatureError("signature does not match")
    return timestamp
