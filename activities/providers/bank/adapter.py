"""The bank-transfer adapter: refunds paid by bank transfer to the payer's own account.

A cash order's payer paid in cash, and cash is never refunded as cash: the refund is a
transfer (ACH/PSE in Colombia, SPEI in Mexico) to the bank account the payer gave. The
bank dedupes by ``external_id``, our reference, so a resubmission can never pay twice:
the same body answers the same transfer, another body is a 409. A refused account (400)
is a final refusal; a transfer the receiving bank returns later is a failed refund with
the bank's return reason as its failure code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from payments_engine.activities.providers.bank.webhooks import report
from payments_engine.activities.providers.bank.wire import (
    PROVIDER_NAME,
    TRANSFERS_PATH,
    BankTransfer,
    Beneficiary,
    TransferCreate,
)
from payments_engine.activities.providers.base import (
    ProviderFault,
    ProviderSettings,
    Refused,
    fetch,
    send,
)
from payments_engine.domain.errors import ProviderConflict, ProviderRejected
from payments_engine.domain.events import ProviderEvent
from payments_engine.domain.refund import SubmitRefundInput

NO_DESTINATION = "a bank transfer needs the payer's bank account"


def auth_headers(settings: ProviderSettings) -> dict[str, str]:
    """The bank wants its API key as a bearer token."""
    assert settings.api_key is not None
    return {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}


def _bank_code(response: httpx.Response) -> str:
    """The bank's error code of an error answer, cut short (it comes from outside)."""
    try:
        code = json.loads(response.content).get("code")
    except (ValueError, AttributeError):
        code = None
    return str(code)[:40] if code else f"HTTP {response.status_code}"


def _own_reading(response: httpx.Response) -> ProviderFault | None:
    if response.status_code == 409:
        return Refused(
            ProviderConflict, "the bank holds this external_id for a transfer with another body"
        )
    if response.status_code in (400, 404, 422):
        return Refused(ProviderRejected, f"the bank refused the transfer ({_bank_code(response)})")
    return None


class BankRefunds:
    """Refunds by bank transfer, on a client carrying the bank's base URL, key and timeout."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings | None = None) -> None:
        """Keep the client; the bank needs nothing else from its settings."""
        self._http = http

    async def send_refund(self, order: SubmitRefundInput) -> ProviderEvent:
        """POST the transfer once; the bank answers it ``ACCEPTED`` (or as it stands).

        Raises:
            ProviderFault: Refused(ProviderRejected) without a destination account or
                when the bank refuses the account; Refused(ProviderConflict) when it
                holds our reference with another body; Ambiguous when the answer was lost.
        """
        account = order.destination
        if account is None:
            raise Refused(ProviderRejected, NO_DESTINATION)
        body = TransferCreate(
            external_id=order.reference,
            amount=order.amount.to_major(),
            currency=order.amount.currency,
            beneficiary=Beneficiary(
                bank_code=account.bank_code,
                account_type=account.account_type.value,
                account_number=account.account_number,
                document_type=account.document_type.value,
                document_number=account.document_number,
                holder_name=account.holder_name,
                country=account.country,
            ),
            description=order.reason,
        ).model_dump(mode="json")
        response = await send(
            self._http, TRANSFERS_PATH, PROVIDER_NAME, json=body, own_reading=_own_reading
        )
        transfer = BankTransfer.model_validate_json(response.content)
        return report(
            transfer,
            f"ack:{order.reference}:{transfer.status.value}",
            datetime.now(UTC),
        )

    async def find_refund(self, reference: str) -> ProviderEvent | None:
        """GET the transfer by our reference (``external_id``); None if the bank has none."""
        path = f"{TRANSFERS_PATH}/{quote(reference, safe='')}"
        body = await fetch(self._http, path, PROVIDER_NAME)
        if body is None:
            return None
        transfer = BankTransfer.model_validate_json(body)
        return report(
            transfer, f"status:{transfer.id}:{transfer.status.value}", transfer.updated_at
        )
