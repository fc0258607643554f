"""The signature scheme objects: ``HMAC_T_V1`` and ``STANDARD_WEBHOOKS``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import traceback
from collections.abc import Callable
from unittest import mock

import pytest
from starlette.datastructures import Headers

from payments_engine.domain.webhooks import (
    DEFAULT_TOLERANCE_SECONDS,
    HMAC_T_V1,
    SCHEMES,
    SIGNATURE_HEADER,
    STANDARD_WEBHOOKS,
    SignatureError,
    SignatureScheme,
    compute_signature,
    scheme_named,
    sign,
)

BODY = b'{"eventId":"e1","status":"MR101"}'
T = 1_700_000_000
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
SW_SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
SW_KEY = b"k" * 24
TV1_SECRET = "tv1-secret"

ALL = [HMAC_T_V1, STANDARD_WEBHOOKS]
SECRETS = {HMAC_T_V1.name: TV1_SECRET, STANDARD_WEBHOOKS.name: SW_SECRET}
OTHER_SECRETS = {
    HMAC_T_V1.name: "another-secret",
    STANDARD_WEBHOOKS.name: "whsec_" + base64.b64encode(b"x" * 24).decode(),
}


def ids(scheme: SignatureScheme) -> str:
    return scheme.name


def sw_signature(msg_id: str, timestamp: int, body: bytes, key: bytes = SW_KEY) -> str:
    """Computed independently of the module, from the spec's definition."""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sw_headers(signature: str, *, msg_id: str = MSG_ID, timestamp: int = T) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def sw_verify(headers: dict[str, str], body: bytes = BODY, now: float = T) -> int:
    return STANDARD_WEBHOOKS.verify(SW_SECRET, headers, body, now=now)


# --- registry ---------------------------------------------------------------------------


def test_schemes_are_registered_under_their_stable_names() -> None:
    assert HMAC_T_V1.name == "hmac-t-v1"
    assert STANDARD_WEBHOOKS.name == "standard-webhooks"
    assert SCHEMES == {"hmac-t-v1": HMAC_T_V1, "standard-webhooks": STANDARD_WEBHOOKS}
    assert scheme_named("hmac-t-v1") is HMAC_T_V1
    assert scheme_named("standard-webhooks") is STANDARD_WEBHOOKS


@pytest.mark.parametrize("name", ["", "stripe", "Standard-Webhooks", "hmac-t-v1 "])
def test_unknown_scheme_name_lists_the_known_ones(name: str) -> None:
    with pytest.raises(ValueError, match="unknown signature scheme") as info:
        scheme_named(name)
    assert "hmac-t-v1" in str(info.value)
    assert "standard-webhooks" in str(info.value)


# --- behaviour common to both schemes -----------------------------------------------------


@pytest.mark.parametrize("scheme", ALL, ids=ids)
def test_round_trip_returns_the_signed_timestamp(scheme: SignatureScheme) -> None:
    secret = SECRETS[scheme.name]
    headers = scheme.sign(secret, msg_id=MSG_ID, timestamp=T, body=BODY)
    assert scheme.verify(secret, headers, BODY, now=T + 5) == T


@pytest.mark.parametrize("scheme", ALL, ids=ids)
def test_round_trip_with_a_fresh_secret(scheme: SignatureScheme) -> None:
    secret = scheme.new_secret()
    scheme.check_secret(secret)
    headers = scheme.sign(secret, msg_id=MSG_ID, timestamp=T, body=BODY)
    assert scheme.verify(secret, headers, BODY, now=T) == T


@pytest.mark.parametrize("scheme", ALL, ids=ids)
def test_wrong_secret_is_refused(scheme: SignatureScheme) -> None:
    headers = scheme.sign(OTHER_SECRETS[scheme.name], msg_id=MSG_ID, timestamp=T, body=BODY)
    with pytest.raises(SignatureError, match="does not match"):
        scheme.verify(SECRETS[scheme.name], headers, BODY, now=T)


@pytest.mark.parametrize("scheme", ALL, ids=ids)
@pytest.mark.parametrize("body", [BODY + b" ", BODY.replace(b"MR101", b"ER101"), b"", BODY[:-1]])
def test_tampered_body_is_refused(scheme: SignatureScheme, body: bytes) -> None:
    secret = SECRETS[scheme.name]
    headers = scheme.sign(secret, msg_id=MSG_ID, timestamp=T, body=BODY)
    with pytest.raises(SignatureError, match="does not match"):
        scheme.verify(secret, headers, body, now=T)


@pytest.mark.parametrize("scheme", ALL, ids=ids)
@pytest.mark.parametrize(
    "offset", [DEFAULT_TOLERANCE_SECONDS + 1, -(DEFAULT_TOLERANCE_SECONDS + 1), 10**6]
)
def test_stale_or_future_timestamp_is_refused(scheme: SignatureScheme, offset: int) -> None:
    secret = SECRETS[scheme.name]
    headers = scheme.sign(secret, msg_id=MSG_ID, timestamp=T, body=BODY)
    with pytest.raises(SignatureError, match="tolerance"):
        scheme.verify(secret, headers, BODY, now=T + offset)


@pytest.mark.parametrize("scheme", ALL, ids=ids)
@pytest.mark.parametrize("offset", [DEFAULT_TOLERANCE_SECONDS, -DEFAULT_TOLERANCE_SECONDS])
def test_exactly_at_tolerance_is_accepted(scheme: SignatureScheme, offset: int) -> None:
    secret = SECRETS[scheme.name]
    headers = scheme.sign(secret, msg_id=MSG_ID, timestamp=T, body=BODY)
    assert scheme.verify(secret, headers, BODY, now=T + offset) == T


@pytest.mark.parametrize("scheme", ALL, ids=ids)
def test_custom_tolerance_applies(scheme: SignatureScheme) -> None:
    secret = SECRETS[scheme.name]
    headers = scheme.sign(secret, msg_id=MSG_ID, timestamp=T, body=BODY)
    assert scheme.verify(secret, headers, BODY, now=T + 10, tolerance=10) == T
    with pytest.raises(SignatureError, match="tolerance"):
        scheme.verify(secret, headers, BODY, now=T + 10.5, tolerance=10)


HeaderCase = Callable[[dict[str, str]], "dict[str, str] | Headers"]
HEADER_CASES: dict[str, HeaderCase] = {
    "upper": lambda h: {k.upper(): v for k, v in h.items()},
    "title": lambda h: {k.title(): v for k, v in h.items()},
    "lower": lambda h: {k.lower(): v for k, v in h.items()},
    "starlette": lambda h: Headers(headers={k.upper(): v for k, v in h.items()}),
}


@pytest.mark.parametrize("scheme", ALL, ids=ids)
@pytest.mark.parametrize("case", HEADER_CASES.values(), ids=HEADER_CASES.keys())
def test_header_names_in_any_case_are_found(scheme: SignatureScheme, case: HeaderCase) -> None:
    secret = SECRETS[scheme.name]
    headers = case(scheme.sign(secret, msg_id=MSG_ID, timestamp=T, body=BODY))
    assert scheme.verify(secret, headers, BODY, now=T) == T


@pytest.mark.parametrize("scheme", ALL, ids=ids)
def test_empty_secret_is_refused_with_a_value_error(scheme: SignatureScheme) -> None:
    with pytest.raises(ValueError, match="empty"):
        scheme.check_secret("")
    with pytest.raises(ValueError, match="empty"):
        scheme.sign("", msg_id=MSG_ID, timestamp=T, body=BODY)
    headers = scheme.sign(SECRETS[scheme.name], msg_id=MSG_ID, timestamp=T, body=BODY)
    with pytest.raises(ValueError, match="empty"):
        scheme.verify("", headers, BODY, now=T)


@pytest.mark.parametrize("scheme", ALL, ids=ids)
def test_new_secret_is_random(scheme: SignatureScheme) -> None:
    assert len({scheme.new_secret() for _ in range(20)}) == 20


# --- hmac-t-v1 ------------------------------------------------------------------------------


def test_hmac_t_v1_sends_the_legacy_header_and_ignores_the_id() -> None:
    headers = HMAC_T_V1.sign(TV1_SECRET, msg_id=MSG_ID, timestamp=T, body=BODY)
    assert headers == {SIGNATURE_HEADER: sign(TV1_SECRET, T, BODY)}
    other = HMAC_T_V1.sign(TV1_SECRET, msg_id="another-id", timestamp=T, body=BODY)
    assert other == headers


def test_hmac_t_v1_accepts_a_header_from_the_module_functions() -> None:
    headers = {"x-signature": f"t={T},v1={compute_signature(TV1_SECRET, T, BODY)}"}
    assert HMAC_T_V1.verify(TV1_SECRET, headers, BODY, now=T) == T


@pytest.mark.parametrize("headers", [{}, {"X-Signature": ""}, {"webhook-signature": "v1,x"}])
def test_hmac_t_v1_missing_header_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError, match="missing"):
        HMAC_T_V1.verify(TV1_SECRET, headers, BODY, now=T)


def test_hmac_t_v1_accepts_any_non_empty_secret() -> None:
    for secret in ("x", "whsec_not base64!", "\u00e9t\u00e9"):
        HMAC_T_V1.check_secret(secret)
        headers = HMAC_T_V1.sign(secret, msg_id=MSG_ID, timestamp=T, body=BODY)
        assert HMAC_T_V1.verify(secret, headers, BODY, now=T) == T


def test_hmac_t_v1_new_secret_is_long_and_url_safe() -> None:
    secret = HMAC_T_V1.new_secret()
    assert len(secret) >= 43
    assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


# --- standard-webhooks: signing -----------------------------------------------------------


def test_standard_webhooks_headers_and_signed_content() -> None:
    headers = STANDARD_WEBHOOKS.sign(SW_SECRET, msg_id=MSG_ID, timestamp=T, body=BODY)
    assert headers == sw_headers(f"v1,{sw_signature(MSG_ID, T, BODY)}")


def test_standard_webhooks_secret_prefix_and_padding_are_optional() -> None:
    encoded = base64.b64encode(b"k" * 23).decode()  # 23 bytes: the encoding ends in "="
    assert encoded.endswith("=")
    variants = ["whsec_" + encoded, encoded, "whsec_" + encoded.rstrip("="), encoded.rstrip("=")]
    signed = {
        STANDARD_WEBHOOKS.sign(v, msg_id=MSG_ID, timestamp=T, body=BODY)["webhook-signature"]
        for v in variants
    }
    assert signed == {f"v1,{sw_signature(MSG_ID, T, BODY, key=b'k' * 23)}"}


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_",
        "whsec_not base64!",
        "whsec_abc$def",
        "whsec_A",  # one data character too many for any byte count
        "whsec_YW=Jj",
        "whsec_\u00e9t\u00e9\u00e9",
        "whsec_-_-_",  # URL-safe alphabet: not what the spec uses
    ],
)
def test_standard_webhooks_malformed_secret_is_a_clear_value_error(secret: str) -> None:
    with pytest.raises(ValueError, match="standard-webhooks signing secret") as info:
        STANDARD_WEBHOOKS.check_secret(secret)
    assert not isinstance(info.value, SignatureError)
    # Neither the message nor a logged traceback (chained decoder errors included) may
    # carry the secret.
    logged = "".join(traceback.format_exception(info.value))
    key_part = secret.removeprefix("whsec_")
    if len(key_part) > 3:
        assert key_part not in logged
    with pytest.raises(ValueError, match="standard-webhooks signing secret"):
        STANDARD_WEBHOOKS.sign(secret, msg_id=MSG_ID, timestamp=T, body=BODY)
    with pytest.raises(ValueError, match="standard-webhooks signing secret"):
        STANDARD_WEBHOOKS.verify(
            secret, sw_headers(f"v1,{sw_signature(MSG_ID, T, BODY)}"), BODY, now=T
        )


def test_standard_webhooks_new_secret_format() -> None:
    secret = STANDARD_WEBHOOKS.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24


@pytest.mark.parametrize("msg_id", [""])
def test_standard_webhooks_refuses_to_sign_without_an_id(msg_id: str) -> None:
    with pytest.raises(ValueError, match="id"):
        STANDARD_WEBHOOKS.sign(SW_SECRET, msg_id=msg_id, timestamp=T, body=BODY)


def test_standard_webhooks_refuses_to_sign_a_negative_timestamp() -> None:
    with pytest.raises(ValueError, match="negative"):
        STANDARD_WEBHOOKS.sign(SW_SECRET, msg_id=MSG_ID, timestamp=-1, body=BODY)


# --- standard-webhooks: verifying ---------------------------------------------------------


@pytest.mark.parametrize("msg_id", ["msg_other", MSG_ID + "x", MSG_ID[:-1], MSG_ID.upper()])
def test_standard_webhooks_tampered_id_is_refused(msg_id: str) -> None:
    headers = sw_headers(f"v1,{sw_signature(MSG_ID, T, BODY)}", msg_id=msg_id)
    with pytest.raises(SignatureError, match="does not match"):
        sw_verify(headers)


def test_standard_webhooks_timestamp_is_part_of_what_is_signed() -> None:
    headers = sw_headers(f"v1,{sw_signature(MSG_ID, T, BODY)}", timestamp=T + 100)
    with pytest.raises(SignatureError, match="does not match"):
        sw_verify(headers, now=T + 100)


def test_standard_webhooks_id_and_timestamp_boundaries_cannot_be_shifted() -> None:
    # "a.b" + "." + T must not verify as "a" + "." + "b.T": the id is taken as sent.
    headers = sw_headers(f"v1,{sw_signature('a', T, BODY)}", msg_id="a.")
    with pytest.raises(SignatureError, match="does not match"):
        sw_verify(headers)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_standard_webhooks_missing_header_is_refused(missing: str, how: str) -> None:
    headers = sw_headers(f"v1,{sw_signature(MSG_ID, T, BODY)}")
    if how == "absent":
        del headers[missing]
    else:
        headers[missing] = ""
    with pytest.raises(SignatureError, match=f"missing {missing}"):
        sw_verify(headers)


def test_standard_webhooks_legacy_header_alone_is_refused() -> None:
    legacy = HMAC_T_V1.sign(TV1_SECRET, msg_id=MSG_ID, timestamp=T, body=BODY)
    with pytest.raises(SignatureError, match="missing"):
        sw_verify(legacy)


@pytest.mark.parametrize(
    "raw", ["abc", "1.5", f"{T}.0", f"+{T}", f"-{T}", f"{T:_}", "\uff11\uff12", "0x10", f"{T} "]
)
def test_standard_webhooks_malformed_timestamp_is_refused(raw: str) -> None:
    headers = sw_headers(f"v1,{sw_signature(MSG_ID, T, BODY)}")
    headers["webhook-timestamp"] = raw
    with pytest.raises(SignatureError, match="malformed timestamp"):
        sw_verify(headers)


def test_standard_webhooks_one_matching_signature_among_several_is_accepted() -> None:
    good = f"v1,{sw_signature(MSG_ID, T, BODY)}"
    bad = f"v1,{sw_signature(MSG_ID, T, BODY, key=b'old' * 8)}"
    for value in (f"{bad} {good}", f"{good} {bad}", f"v2,abc {good}", f"{bad}  {good} v1,!!"):
        assert sw_verify(sw_headers(value)) == T


def test_standard_webhooks_several_signatures_none_matching_is_refused() -> None:
    bad1 = f"v1,{sw_signature(MSG_ID, T, BODY, key=b'a' * 24)}"
    bad2 = f"v1,{sw_signature(MSG_ID, T, BODY, key=b'b' * 24)}"
    with pytest.raises(SignatureError, match="does not match"):
        sw_verify(sw_headers(f"{bad1} {bad2}"))


@pytest.mark.parametrize("prefix", ["v2", "v1a", "V1", "v1a,", " v0"])
def test_standard_webhooks_other_versions_are_ignored_even_if_the_mac_is_right(
    prefix: str,
) -> None:
    value = f"{prefix},{sw_signature(MSG_ID, T, BODY)}"
    with pytest.raises(SignatureError, match="no v1 signature"):
        sw_verify(sw_headers(value))


@pytest.mark.parametrize(
    "candidate",
    [
        "v1,",
        "v1,!!!!",
        "v1,not base64 at all",
        "v1,abc",  # bad padding
        "v1,A",
        "v1,\u00e9\u00e9\u00e9\u00e9",
        "v1,\x00\x01",
        "v1,,",
        "v1," + base64.b64encode(b"short").decode(),
        "v1," + sw_signature(MSG_ID, T, BODY).rstrip("=") + "$",
        "v1," + sw_signature(MSG_ID, T, BODY).encode().hex(),
    ],
)
def test_standard_webhooks_garbage_signature_is_a_mismatch(candidate: str) -> None:
    with pytest.raises(SignatureError, match="does not match"):
        sw_verify(sw_headers(candidate))


def test_standard_webhooks_signature_without_comma_is_not_a_v1_candidate() -> None:
    with pytest.raises(SignatureError, match="no v1 signature"):
        sw_verify(sw_headers("v1" + sw_signature(MSG_ID, T, BODY)))


def test_standard_webhooks_compares_every_v1_candidate_with_compare_digest() -> None:
    expected = base64.b64decode(sw_signature(MSG_ID, T, BODY))
    good = f"v1,{sw_signature(MSG_ID, T, BODY)}"
    # The match comes first: a short-circuiting loop would compare once.
    value = f"{good} v2,abc v1,!!! v1,{sw_signature(MSG_ID, T, BODY, key=b'z' * 24)}"
    with mock.patch("hmac.compare_digest", wraps=hmac.compare_digest) as compare:
        assert sw_verify(sw_headers(value)) == T
    assert compare.call_count == 3
    for call in compare.call_args_list:
        assert expected in call.args
    assert [call.args[1] == expected for call in compare.call_args_list] == [True, False, False]


def test_standard_webhooks_verify_does_not_use_plain_equality_on_the_mac() -> None:
    # If compare_digest is the only comparison, forcing it false must refuse a good signature.
    headers = STANDARD_WEBHOOKS.sign(SW_SECRET, msg_id=MSG_ID, timestamp=T, body=BODY)
    with mock.patch("hmac.compare_digest", return_value=False):
        with pytest.raises(SignatureError, match="does not match"):
            sw_verify(headers)
