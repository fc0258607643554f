"""Webhook signature schemes shared by the sandbox (signs) and the relay (verifies).

Two schemes exist, chosen per provider through ``SCHEMES`` / ``scheme_named``:

* ``HMAC_T_V1`` ("hmac-t-v1"), the Stripe-style scheme: header
  ``X-Signature: t=<unix seconds>,v1=<hex>`` where the hex is HMAC-SHA256 over
  ``t + "." + raw body``. The module-level ``compute_signature``, ``sign``, ``parse_header``
  and ``verify`` implement it and stay for the callers that predate the scheme objects.
* ``STANDARD_WEBHOOKS`` ("standard-webhooks"), https://www.standardwebhooks.com: headers
  ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (space-separated
  ``v1,<base64 HMAC-SHA256>``) over ``id + "." + timestamp + "." + raw body``, keyed by the
  base64 part of a ``whsec_`` secret.

Both verify the raw bytes before any parsing, compare in constant time and reject timestamps
outside a tolerance either way. A bad signature raises ``SignatureError`` (the sender's
fault); a bad secret raises ``ValueError`` (ours, so it should surface at configuration time
through ``check_secret`` rather than as a stream of refused webhooks).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Protocol

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


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    # A plain dict may spell header names in any case; starlette's Headers already folds them.
    return {key.lower(): value for key, value in headers.items()}


class SignatureScheme(Protocol):
    """How one provider signs its webhooks; the relay and the sandbox pick one per provider."""

    name: str

    def sign(self, secret: str, *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        """The headers to send with ``body`` (names as the scheme spells them)."""
        ...

    def verify(
        self,
        secret: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: float,
        tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    ) -> int:
        """Check ``headers`` sign ``body``; return the signed timestamp.

        Raises:
            SignatureError: a header is missing or malformed, the timestamp is outside
                ``tolerance`` of ``now``, or no signature matches.
            ValueError: ``secret`` is not a valid secret for this scheme.
        """
        ...

    def check_secret(self, secret: str) -> None:
        """Refuse a secret this scheme cannot use.

        Raises:
            ValueError: naming the problem, never the secret.
        """
        ...

    def new_secret(self) -> str:
        """A fresh random secret in the scheme's format (for ``payments dev`` sessions)."""
        ...


class HmacTV1Scheme:
    """The ``X-Signature: t=..,v1=..`` scheme as a ``SignatureScheme``.

    The message id is not part of this scheme, so ``sign`` ignores it.
    """

    name: str = "hmac-t-v1"

    def sign(self, secret: str, *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        """Return the ``X-Signature`` header for ``body`` sent at ``timestamp``."""
        self.check_secret(secret)
        return {SIGNATURE_HEADER: sign(secret, timestamp, body)}

    def verify(
        self,
        secret: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: float,
        tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    ) -> int:
        """Check the ``X-Signature`` header signs ``body``; return its timestamp."""
        self.check_secret(secret)
        header = _lower_keys(headers).get(SIGNATURE_HEADER.lower())
        return verify(secret, header, body, now=now, tolerance=tolerance)

    def check_secret(self, secret: str) -> None:
        """Refuse an empty secret: anyone could sign with it."""
        if not secret:
            raise ValueError(f"{self.name} signing secret is empty")

    def new_secret(self) -> str:
        """A random URL-safe secret of 32 bytes of entropy."""
        return secrets.token_urlsafe(32)


WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"
STANDARD_WEBHOOKS_SECRET_PREFIX = "whsec_"

# Unix seconds only: int() would also take "+1", " 1", "1_000" or non-ASCII digits, each of
# which would make the signed text differ from what the sender signed.
_TIMESTAMP_RE = re.compile(r"[0-9]{1,15}")


class StandardWebhooksScheme:
    """The Standard Webhooks scheme (https://www.standardwebhooks.com) as a ``SignatureScheme``."""

    name: str = "standard-webhooks"

    def _key(self, secret: str) -> bytes:
        """The HMAC key: the base64-decoded part of ``secret`` after ``whsec_``.

        Like the reference library, the prefix is optional and padding may be missing.
        """
        if not secret:
            raise ValueError(f"{self.name} signing secret is empty")
        encoded = secret.removeprefix(STANDARD_WEBHOOKS_SECRET_PREFIX).rstrip("=")
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            # from None: the decoder's message must not carry the secret into logs.
            raise ValueError(
                f"{self.name} signing secret is not valid base64 after the "
                f"{STANDARD_WEBHOOKS_SECRET_PREFIX!r} prefix"
            ) from None
        if not key:
            raise ValueError(f"{self.name} signing secret has no key after the prefix")
        return key

    @staticmethod
    def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
        return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()

    def sign(self, secret: str, *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        """Return the ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers.

        Raises:
            ValueError: the secret is malformed, the id is empty or the timestamp negative
                (the receiver would refuse either).
        """
        key = self._key(secret)
        if not msg_id:
            raise ValueError("a Standard Webhooks message needs a non-empty id")
        if timestamp < 0:
            raise ValueError("a Standard Webhooks timestamp cannot be negative")
        signature = base64.b64encode(self._digest(key, msg_id, timestamp, body)).decode("ascii")
        return {
            WEBHOOK_ID_HEADER: msg_id,
            WEBHOOK_TIMESTAMP_HEADER: str(timestamp),
            WEBHOOK_SIGNATURE_HEADER: f"v1,{signature}",
        }

    def verify(
        self,
        secret: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: float,
        tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    ) -> int:
        """Check the three ``webhook-*`` headers sign ``body``; return the timestamp.

        Every ``v1`` candidate is compared with ``hmac.compare_digest``, without stopping at
        the first match, so the time taken reveals neither how much of a forgery matched nor
        which candidate did. Candidates of other versions are ignored.
        """
        key = self._key(secret)
        lowered = _lower_keys(headers)
        msg_id = lowered.get(WEBHOOK_ID_HEADER)
        raw_timestamp = lowered.get(WEBHOOK_TIMESTAMP_HEADER)
        raw_signatures = lowered.get(WEBHOOK_SIGNATURE_HEADER)
        if not msg_id:
            raise SignatureError(f"missing {WEBHOOK_ID_HEADER} header")
        if not raw_timestamp:
            raise SignatureError(f"missing {WEBHOOK_TIMESTAMP_HEADER} header")
        if not raw_signatures:
            raise SignatureError(f"missing {WEBHOOK_SIGNATURE_HEADER} header")
        if not _TIMESTAMP_RE.fullmatch(raw_timestamp):
            raise SignatureError("malformed timestamp")
        timestamp = int(raw_timestamp)
        if abs(now - timestamp) > tolerance:
            raise SignatureError("timestamp outside the tolerance")

        expected = self._digest(key, msg_id, timestamp, body)
        seen_v1 = False
        matched = False
        for candidate in raw_signatures.split():
            version, sep, encoded = candidate.partition(",")
            if version != "v1" or not sep:
                continue
            seen_v1 = True
            try:
                # validate=True: the default decoder drops stray characters, so a mangled
                # candidate could decode to something; treat any garbage as a mismatch.
                presented = base64.b64decode(encoded.encode("ascii"), validate=True)
            except (UnicodeEncodeError, binascii.Error, ValueError):
                presented = b""
            matched |= hmac.compare_digest(expected, presented)
        if not seen_v1:
            raise SignatureError("webhook-signature has no v1 signature")
        if not matched:
            raise SignatureError("signature does not match")
        return timestamp

    def check_secret(self, secret: str) -> None:
        """Refuse an empty secret or one whose key is not base64."""
        self._key(secret)

    def new_secret(self) -> str:
        """``whsec_`` followed by the base64 of 24 random bytes, as the spec suggests."""
        return STANDARD_WEBHOOKS_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode(
            "ascii"
        )


HMAC_T_V1: SignatureScheme = HmacTV1Scheme()
STANDARD_WEBHOOKS: SignatureScheme = StandardWebhooksScheme()

SCHEMES: dict[str, SignatureScheme] = {
    scheme.name: scheme for scheme in (HMAC_T_V1, STANDARD_WEBHOOKS)
}


def scheme_named(name: str) -> SignatureScheme:
    """The scheme called ``name``.

    Raises:
        ValueError: no scheme has that name; the message lists the known ones.
    """
    try:
        return SCHEMES[name]
    except KeyError:
        known = ", ".join(sorted(SCHEMES))
        raise ValueError(f"unknown signature scheme {name!r}; known: {known}") from None
