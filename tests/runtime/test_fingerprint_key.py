"""The payout request fingerprint kept in the memo is keyed: no number can be tested against it."""

from __future__ import annotations

import secrets

from payments_engine.domain.money import Money
from payments_engine.domain.payout import PayoutRequest

KEY = secrets.token_bytes(32)


def _request(number: str = "+254712345678", **changes: object) -> PayoutRequest:
    fields: dict[str, object] = {
        "payout_id": "order-1001",
        "amount": Money(amount=1_500_00, currency="KES"),
        "recipient_msisdn": number,
        "country": "KE",
        **changes,
    }
    return PayoutRequest(**fields)  # type: ignore[arg-type]


def test_keyed_fingerprint_is_stable_per_key_and_not_the_plain_digest() -> None:
    request = _request()

    assert request.fingerprint(KEY) == _request().fingerprint(KEY)
    assert request.fingerprint(KEY) != request.fingerprint()
    assert request.fingerprint(KEY) != request.fingerprint(secrets.token_bytes(32))
    assert len(request.fingerprint(KEY)) == 64


def test_keyed_fingerprint_still_tells_parameters_apart() -> None:
    base = _request().fingerprint(KEY)
    assert _request("+254712345679").fingerprint(KEY) != base
    assert _request(amount=Money(amount=99_00, currency="KES")).fingerprint(KEY) != base
    assert _request(description="another text").fingerprint(KEY) == base


def test_the_masked_digits_cannot_be_searched_without_the_key() -> None:
    """The attack of issue 7: every field but 6 digits is known; try them all."""
    stored_plain = _request().fingerprint()
    stored_keyed = _request().fingerprint(KEY)
    # 1,000 of the 1,000,000 candidates, the right one among them, are enough to show it.
    candidates = [f"+254712{n:03d}678" for n in range(1000)]

    def found(stored: str, key: bytes | None) -> list[str]:
        return [c for c in candidates if _request(c).fingerprint(key) == stored]

    assert found(stored_plain, None) == ["+254712345678"]
    assert found(stored_keyed, None) == []
    assert found(stored_keyed, secrets.token_bytes(32)) == []
