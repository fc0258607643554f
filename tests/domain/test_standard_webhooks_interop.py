"""``STANDARD_WEBHOOKS`` against the spec's test vector and the reference ``standardwebhooks``."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from payments_engine.domain.webhooks import STANDARD_WEBHOOKS, SignatureError

# The test vector published with the Standard Webhooks specification.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

BODY = b'{"eventId":"e1","status":"MR101","note":"caf\xc3\xa9"}'
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"


def test_sign_reproduces_the_published_vector() -> None:
    headers = STANDARD_WEBHOOKS.sign(
        VECTOR_SECRET, msg_id=VECTOR_ID, timestamp=VECTOR_TIMESTAMP, body=VECTOR_BODY
    )
    assert headers == {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }


def test_verify_accepts_the_published_vector() -> None:
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    assert (
        STANDARD_WEBHOOKS.verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TIMESTAMP)
        == VECTOR_TIMESTAMP
    )


@pytest.mark.parametrize("secret", [VECTOR_SECRET, None])
def test_reference_library_verifies_what_we_sign(secret: str | None) -> None:
    secret = secret or STANDARD_WEBHOOKS.new_secret()
    # The library checks against the wall clock, so sign for now.
    headers = STANDARD_WEBHOOKS.sign(secret, msg_id=MSG_ID, timestamp=int(time.time()), body=BODY)
    assert Webhook(secret).verify(BODY, headers, json_parse=False) is None
    assert Webhook(secret).verify(BODY, headers)["note"] == "caf\u00e9"


@pytest.mark.parametrize("secret", [VECTOR_SECRET, None])
def test_we_verify_what_the_reference_library_signs(secret: str | None) -> None:
    secret = secret or STANDARD_WEBHOOKS.new_secret()
    timestamp = int(time.time())
    signature = Webhook(secret).sign(
        MSG_ID, datetime.fromtimestamp(timestamp, tz=UTC), BODY.decode("utf-8")
    )
    headers = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
    assert STANDARD_WEBHOOKS.verify(secret, headers, BODY, now=timestamp) == timestamp


def test_we_and_the_reference_library_agree_on_the_vector() -> None:
    signature = Webhook(VECTOR_SECRET).sign(
        VECTOR_ID, datetime.fromtimestamp(VECTOR_TIMESTAMP, tz=UTC), VECTOR_BODY.decode()
    )
    assert signature == VECTOR_SIGNATURE


@pytest.mark.parametrize(
    "tampered", [BODY + b" ", BODY.replace(b"MR101", b"ER101"), BODY[:-1], b"{}"]
)
def test_both_refuse_a_tampered_body(tampered: bytes) -> None:
    secret = STANDARD_WEBHOOKS.new_secret()
    now = int(time.time())
    headers = STANDARD_WEBHOOKS.sign(secret, msg_id=MSG_ID, timestamp=now, body=BODY)
    # Sanity: both accept the original, so the refusals below are about the body.
    assert STANDARD_WEBHOOKS.verify(secret, headers, BODY, now=now) == now
    Webhook(secret).verify(BODY, headers, json_parse=False)
    with pytest.raises(SignatureError, match="does not match"):
        STANDARD_WEBHOOKS.verify(secret, headers, tampered, now=now)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(tampered, headers, json_parse=False)
