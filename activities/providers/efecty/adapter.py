"""The Efecty adapter: issue, find and cancel cash vouchers in Efecty's HTTP dialect.

Our reference is Efecty's ``referenceCode``, its idempotency key: a second create is its
409 duplicate, which the adapter answers by reading the voucher, so creating twice never
issues two vouchers. Amounts travel as whole pesos.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from payments_engine.activities.providers.base import (
    AlreadySubmitted,
    Ambiguous,
    ProviderFault,
    ProviderSettings,
    Refused,
    Transient,
    fetch,
    read_status,
    send,
)
from payments_engine.activities.providers.efecty.settings import EfectySettings
from payments_engine.activities.providers.efecty.webhooks import report
from payments_engine.activities.providers.efecty.wire import (
    ALREADY_PAID_CODE,
    DUPLICATE_CODE,
    PROVIDER_NAME,
    TRANSACTIONS_PATH,
    Buyer,
    ErrorAnswer,
    TransactionAnswer,
    TransactionRequest,
    from_millis,
)
from payments_engine.domain.cash import CreateVoucherInput, IssuedVoucher
from payments_engine.domain.errors import ProviderConflict, ProviderRejected
from payments_engine.domain.events import ProviderEvent
from payments_engine.domain.money import currency_exponent


def auth_headers(settings: ProviderSettings) -> dict[str, str]:
    """The bearer token Efecty wants on every call."""
    assert settings.api_key is not None
    return {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}


def _error_code(response: httpx.Response) -> str | None:
    try:
        return ErrorAnswer.model_validate_json(response.content).error
    except ValidationError:
        return None


def own_reading(response: httpx.Response) -> ProviderFault | None:
    """Efecty's answers that mean more than their status: the duplicate and refusals."""
    if response.status_code == 409 and _error_code(response) == DUPLICATE_CODE:
        return AlreadySubmitted(f"{PROVIDER_NAME} holds this referenceCode already")
    if 400 <= response.status_code < 500 and response.status_code not in (401, 403, 408, 429):
        code = (_error_code(response) or "unknown")[:40]
        return Refused(
            ProviderRejected,
            f"{PROVIDER_NAME} refused the voucher: {code} (HTTP {response.status_code})",
        )
    return None


def issued_voucher(answer: TransactionAnswer, event_id: str) -> IssuedVoucher:
    """The voucher an answer describes, and where it stands."""
    transaction = answer.transaction_response
    extra = transaction.extra_parameters
    return IssuedVoucher(
        report=report(transaction, event_id),
        voucher_reference=str(extra.reference),
        barcode=extra.bar_code,
        expires_at=from_millis(extra.expiration_date),
        receipt_url=extra.url_payment_receipt_html,
    )


def _path(reference: str) -> str:
    return f"{TRANSACTIONS_PATH}/{quote(reference, safe='')}"


class EfectyVouchers:
    """Cash vouchers through Efecty, on a client carrying its base URL, token and timeout."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings | None = None) -> None:
        """Keep the client and the notification URL, if one is set."""
        self._http = http
        self._notify_url = settings.notify_url if isinstance(settings, EfectySettings) else None

    async def create_voucher(self, order: CreateVoucherInput) -> IssuedVoucher:
        """POST the voucher once per reference; a duplicate answer reads the existing one.

        Raises:
            ProviderFault: Ambiguous (no answer, 5xx, unreadable answer), Transient,
                Refused (centavos, limits, a payer the network blocks, credentials).
        """
        unit = 10 ** currency_exponent(order.amount.currency)
        if order.amount.amount % unit:
            raise Refused(ProviderRejected, f"{PROVIDER_NAME} takes whole pesos only")
        expires = (
            datetime.now(UTC) + timedelta(days=order.expires_in_days)
            if order.expires_in_days is not None
            else None
        )
        body = TransactionRequest(
            reference_code=order.reference,
            description=order.description,
            value=str(order.amount.amount // unit),
            currency=order.amount.currency,
            payment_country=order.country,
            expiration_date=expires,
            buyer=Buyer(
                full_name=order.payer.name,
                dni_type=order.payer.document_type.value,
                dni_number=order.payer.document_number,
                email_address=order.payer.email,
            ),
            notify_url=self._notify_url,
        ).model_dump(mode="json", by_alias=True, exclude_none=True)
        try:
            response = await send(
                self._http, TRANSACTIONS_PATH, PROVIDER_NAME, json=body, own_reading=own_reading
            )
        except AlreadySubmitted:
            # Efecty holds a voucher for our reference: that one is ours.
            found = await self.find_voucher(order.reference)
            if found is None:
                raise
            return found
        try:
            answer = TransactionAnswer.model_validate_json(response.content)
        except ValidationError:
            raise Ambiguous(f"{PROVIDER_NAME} answered an unreadable voucher") from None
        state = answer.transaction_response.state.value
        return issued_voucher(answer, f"ack:{order.reference}:{state}")

    async def find_voucher(self, reference: str) -> IssuedVoucher | None:
        """GET the voucher by our reference; None when Efecty issued none for it."""
        body = await fetch(self._http, _path(reference), PROVIDER_NAME)
        if body is None:
            return None
        try:
            answer = TransactionAnswer.model_validate_json(body)
        except ValidationError:
            raise Transient(f"{PROVIDER_NAME} answered an unreadable status") from None
        state = answer.transaction_response.state.value
        return issued_voucher(answer, f"status:{reference}:{state}")

    async def cancel_voucher(self, reference: str) -> ProviderEvent | None:
        """Cancel the voucher; None when Efecty issued none for our reference.

        Raises:
            ProviderFault: Refused(ProviderConflict) once it was paid at the shop;
                Ambiguous when the answer was lost (ask for the status).
        """
        try:
            response = await self._http.post(f"{_path(reference)}/cancel")
        except httpx.TransportError as exc:
            raise Ambiguous(type(exc).__name__) from exc
        if response.status_code == 404:
            return None
        if response.status_code == 409 and _error_code(response) == ALREADY_PAID_CODE:
            raise Refused(ProviderConflict, f"{PROVIDER_NAME} voucher already paid: no cancel")
        fault = read_status(response.status_code, PROVIDER_NAME, submitting=True)
        if fault is not None:
            raise fault
        try:
            answer = TransactionAnswer.model_validate_json(response.content)
        except ValidationError:
            raise Ambiguous(f"{PROVIDER_NAME} answered an unreadable cancel") from None
        transaction = answer.transaction_response
        return report(transaction, f"cancel:{reference}:{transaction.state.value}")
