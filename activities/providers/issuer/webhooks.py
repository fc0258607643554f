"""The issuer's webhooks (and the relay's stand-in records), as :class:`ProviderEvent` hints.

Neither kind moves money by itself: a ``card.transaction`` names the issuer's transaction
token, which the card reads from the issuer's API before it acts; a
``cardholder.kyc_updated`` makes the card ask for the cardholder's verdict.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from payments_engine.activities.providers.base import MalformedEvent, malformed
from payments_engine.activities.providers.issuer.wire import (
    PROVIDER_NAME,
    KycEventWire,
    TransactionEventWire,
)
from payments_engine.domain.card import KYC_EVENT, TRANSACTION_EVENT, StandIn
from payments_engine.domain.events import ProviderEvent, TransferOutcome


def translate(body: bytes) -> ProviderEvent:
    """Parse an issuer webhook, or a stand-in record the relay stored.

    Raises:
        MalformedEvent: invalid JSON, an unknown type, a missing or bad field.
    """
    try:
        kind = json.loads(body).get("type")
    except (ValueError, AttributeError):
        raise MalformedEvent(f"invalid {PROVIDER_NAME} webhook: not a JSON object") from None
    try:
        if kind == "card.transaction":
            txn = TransactionEventWire.model_validate_json(body)
            return ProviderEvent(
                provider=PROVIDER_NAME,
                event_id=txn.event_id,
                reference=txn.card_reference,
                outcome=TransferOutcome.CHANGED,
                provider_status=TRANSACTION_EVENT,
                provider_transaction_id=txn.transaction_token,
                message=txn.transaction_type[:40],
            )
        if kind == "cardholder.kyc_updated":
            kyc = KycEventWire.model_validate_json(body)
            return ProviderEvent(
                provider=PROVIDER_NAME,
                event_id=kyc.event_id,
                reference=kyc.card_reference,
                outcome=TransferOutcome.CHANGED,
                provider_status=KYC_EVENT,
                provider_transaction_id=kyc.cardholder_token,
            )
        if kind == "relay.stand_in":
            return StandIn.model_validate_json(body).event(PROVIDER_NAME)
    except ValidationError as exc:
        raise malformed(PROVIDER_NAME, exc) from None
    raise MalformedEvent(f"invalid {PROVIDER_NAME} webhook: unknown type")
