"""Provider parsers: the hub callback's mapping onto ProviderEvent."""

from __future__ import annotations

import pytest

from payments_engine.activities.providers.base import MalformedEvent
from payments_engine.activities.providers.hub.wire import PROVIDER_NAME
from payments_engine.activities.providers.registry import PROVIDERS
from payments_engine.domain.events import TransferOutcome
from tests.relay.conftest import PHONE, callback, encode


@pytest.mark.parametrize(
    ("status", "outcome", "failure_code"),
    [
        ("MR101", TransferOutcome.SUCCEEDED, None),
        ("MR108", TransferOutcome.PENDING, None),
        ("ER101", TransferOutcome.FAILED, "invalid_msisdn"),
    ],
)
def test_hub_status_maps_to_outcome(
    status: str, outcome: TransferOutcome, failure_code: str | None
) -> None:
    event = PROVIDERS[PROVIDER_NAME].translate(encode(callback(status=status)))

    assert (event.outcome, event.provider_status, event.failure_code) == (
        outcome,
        status,
        failure_code,
    )
    assert (event.provider, event.reference, event.provider_transaction_id) == (
        "hub",
        "payout-ABC",
        "HUB-778899",
    )


def test_malformed_event_message_does_not_quote_the_body() -> None:
    body = encode(callback(status="XX1", message=f"call {PHONE}", transactionId=None))

    with pytest.raises(MalformedEvent) as caught:
        PROVIDERS[PROVIDER_NAME].translate(body)

    assert "status" in str(caught.value)
    assert "transactionId" in str(caught.value)
    assert PHONE not in str(caught.value)
    # No chained ValidationError either: it would print the input in a traceback.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
