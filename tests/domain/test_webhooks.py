"""The webhook signature scheme: sign, parse and verify."""

from __future__ import annotations

import pytest

from payments_engine.domain.webhooks import (
    DEFAULT_TOLERANCE_SECONDS,
    SignatureError,
    compute_signature,
    parse_header,
    sign,
    verify,
)

SECRET = "whsec_test"
BODY = b'{"eventId":"e1","status":"MR101"}'
T = 1_700_000_000


def test_sign_then_verify_returns_the_timestamp() -> None:
    header = sign(SECRET, T, BODY)
    assert header.startswith(f"t={T},v1=")
    assert verify(SECRET, header, BODY, now=T + 5) == T


def test_signature_is_hmac_sha256_hex_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert compute_signature(SECRET, T, BODY) == expected
    assert sign(SECRET, T, BODY) == f"t={T},v1={expected}"


def test_wrong_secret_is_refused() -> None:
    header = sign("another-secret", T, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, header, BODY, now=T)


@pytest.mark.parametrize("body", [BODY + b" ", BODY.replace(b"MR101", b"ER101"), b"", BODY[:-1]])
def test_tampered_body_is_refused(body: bytes) -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, sign(SECRET, T, BODY), body, now=T)


def test_timestamp_is_part_of_what_is_signed() -> None:
    # Replaying a signature with a fresher timestamp must not verify.
    signature = compute_signature(SECRET, T, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, f"t={T + 100},v1={signature}", BODY, now=T + 100)


@pytest.mark.parametrize(
    "offset", [DEFAULT_TOLERANCE_SECONDS + 1, -(DEFAULT_TOLERANCE_SECONDS + 1)]
)
def test_stale_or_future_timestamp_beyond_tolerance_is_refused(offset: int) -> None:
    header = sign(SECRET, T, BODY)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(SECRET, header, BODY, now=T + offset)


@pytest.mark.parametrize("offset", [DEFAULT_TOLERANCE_SECONDS, -DEFAULT_TOLERANCE_SECONDS])
def test_exactly_at_tolerance_is_accepted(offset: int) -> None:
    assert verify(SECRET, sign(SECRET, T, BODY), BODY, now=T + offset) == T


def test_custom_tolerance_applies() -> None:
    header = sign(SECRET, T, BODY)
    assert verify(SECRET, header, BODY, now=T + 10, tolerance=10) == T
    with pytest.raises(SignatureError, match="tolerance"):
        verify(SECRET, header, BODY, now=T + 10.5, tolerance=10)


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header_is_refused(header: str | None) -> None:
    with pytest.raises(SignatureError, match="missing"):
        verify(SECRET, header, BODY, now=T)


@pytest.mark.parametrize(
    "header",
    [f"t={T}", f"t={T},v0=abc", f"t={T},v1", "garbage", f"v1={compute_signature(SECRET, T, BODY)}"],
)
def test_header_without_t_or_v1_is_refused(header: str) -> None:
    with pytest.raises(SignatureError, match="lacks"):
        verify(SECRET, header, BODY, now=T)


@pytest.mark.parametrize("t", ["abc", "", "1.5", "0x10"])
def test_malformed_timestamp_is_refused(t: str) -> None:
    header = f"t={t},v1={compute_signature(SECRET, T, BODY)}"
    with pytest.raises(SignatureError, match="malformed timestamp"):
        verify(SECRET, header, BODY, now=T)


def test_one_valid_among_several_v1_is_accepted() -> None:
    good = compute_signature(SECRET, T, BODY)
    bad = compute_signature("old-secret", T, BODY)
    for header in (f"t={T},v1={bad},v1={good}", f"t={T},v1={good},v1={bad}"):
        assert verify(SECRET, header, BODY, now=T) == T


def test_several_v1_all_invalid_is_refused() -> None:
    bad1 = compute_signature("a", T, BODY)
    bad2 = compute_signature("b", T, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, f"t={T},v1={bad1},v1={bad2}", BODY, now=T)


def test_parse_header_tolerates_spaces_and_unknown_keys() -> None:
    assert parse_header(f" t={T} , v0=zzz, v1=aa ,v1=bb") == (T, ["aa", "bb"])


def test_non_ascii_signature_is_a_signature_error() -> None:
    with pytest.raises(SignatureError):
        verify(SECRET, f"t={T},v1=\u00e9", BODY, now=T)
