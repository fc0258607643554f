"""The MoMo disbursement adapter: its HTTP dialect, nothing of the exactly-once protocol.

MoMo wants a UUID as ``X-Reference-Id``; ours is derived from our reference (UUIDv5), so
every attempt of one payout sends the same id and MoMo's 409 catches a resubmission.
Our reference itself travels as ``externalId`` and comes back in the status and callback.
"""

from __future__ import annotations

import uuid

import httpx

from payments_engine.activities.providers.base import (
    AlreadySubmitted,
    ProviderFault,
    ProviderSettings,
    fetch,
    send,
)
from payments_engine.activities.providers.momo.settings import MomoSettings
from payments_engine.activities.providers.momo.webhooks import report
from payments_engine.activities.providers.momo.wire import (
    DUPLICATE_CODE,
    PROVIDER_NAME,
    REFERENCE_HEADER,
    SUBSCRIPTION_KEY_HEADER,
    TARGET_ENVIRONMENT_HEADER,
    TRANSFER_PATH,
    MomoStatus,
    Party,
    Transfer,
    TransferRequest,
)
from payments_engine.domain.events import ProviderEvent, TransferOutcome
from payments_engine.domain.payout import SubmitPayoutInput

REFERENCE_NAMESPACE = uuid.UUID("6f1c2a8e-3d4b-5e6f-8a9b-0c1d2e3f4a5b")
"""Namespace of the UUIDv5 ``X-Reference-Id``s; changing it would resubmit live payouts."""


def reference_id(reference: str) -> str:
    """MoMo's ``X-Reference-Id`` for our reference: the same UUID on every attempt."""
    return str(uuid.uuid5(REFERENCE_NAMESPACE, reference))


def auth_headers(settings: ProviderSettings) -> dict[str, str]:
    """The subscription key and target environment MoMo wants on every call."""
    assert settings.api_key is not None
    environment = settings.target_environment if isinstance(settings, MomoSettings) else "sandbox"
    return {
        SUBSCRIPTION_KEY_HEADER: settings.api_key.get_secret_value(),
        TARGET_ENVIRONMENT_HEADER: environment,
    }


def own_reading(response: httpx.Response) -> ProviderFault | None:
    """MoMo's 409 duplicate answer as AlreadySubmitted (transfers and requests to pay)."""
    # MoMo's 409 is its duplicate answer: the transfer exists, so ask for its status.
    if response.status_code == 409 and DUPLICATE_CODE in response.text:
        return AlreadySubmitted(f"{PROVIDER_NAME} holds this X-Reference-Id already")
    return None


class MomoPayouts:
    """Payouts through MoMo's disbursement API, on a client with its URL, key and timeout."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings | None = None) -> None:
        """Keep the client and the callback URL, if one is set."""
        self._http = http
        self._callback_url = settings.callback_url if isinstance(settings, MomoSettings) else None

    async def send_payout(self, order: SubmitPayoutInput) -> ProviderEvent:
        """POST the transfer once; 202 (no body) means accepted and pending."""
        body = TransferRequest(
            amount=order.amount.to_major(),
            currency=order.amount.currency,
            external_id=order.reference,
            payee=Party(party_id_type="MSISDN", party_id=order.msisdn.lstrip("+")),
            payer_message=order.description or "",
            payee_note=order.description or "",
        ).model_dump(mode="json", by_alias=True)
        headers = {REFERENCE_HEADER: reference_id(order.reference)}
        if self._callback_url:
            headers["X-Callback-Url"] = self._callback_url
        response = await send(
            self._http,
            TRANSFER_PATH,
            PROVIDER_NAME,
            json=body,
            headers=headers,
            own_reading=own_reading,
        )
        return ProviderEvent(
            provider=PROVIDER_NAME,
            event_id=f"ack:{order.reference}:{response.status_code}",
            reference=order.reference,
            outcome=TransferOutcome.PENDING,
            provider_status=MomoStatus.PENDING.value,
        )

    async def find_payout(self, reference: str) -> ProviderEvent | None:
        """GET the transfer by its ``X-Reference-Id``; 404 means MoMo never saw it."""
        body = await fetch(self._http, f"{TRANSFER_PATH}/{reference_id(reference)}", PROVIDER_NAME)
        if body is None:
            return None
        transfer = Transfer.model_validate_json(body)
        return report(transfer, f"status:{reference}:{transfer.status.value}")
