"""The OXXO adapter: issue, find and cancel cash vouchers in OXXO's HTTP dialect.

Our reference is the ``Idempotency-Key`` of every create and travels as
``metadata.reference``: a repeated create answers the same voucher, so creating twice
never issues two. Vouchers are found by that reference; a cancel finds the voucher first.
"""

from __future__ import annotations

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
from payments_engine.activities.providers.oxxo.webhooks import report
from payments_engine.activities.providers.oxxo.wire import (
    IDEMPOTENCY_ERROR,
    IDEMPOTENCY_HEADER,
    PAYMENT_INTENTS_PATH,
    PROVIDER_NAME,
    REFERENCE_KEY,
    BillingDetails,
    ErrorAnswer,
    OxxoOptions,
    PayerDocument,
    PaymentIntent,
    PaymentIntentList,
    PaymentIntentRequest,
    PaymentMethodData,
    PaymentMethodOptions,
)
from payments_engine.domain.cash import CreateVoucherInput, IssuedVoucher
from payments_engine.domain.errors import ProviderConflict, ProviderRejected
from payments_engine.domain.events import ProviderEvent


def auth_headers(settings: ProviderSettings) -> dict[str, str]:
    """The bearer token OXXO wants on every call."""
    assert settings.api_key is not None
    return {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}


def _error(response: httpx.Response) -> tuple[str | None, str | None]:
    """(type, code) of an error answer."""
    try:
        error = ErrorAnswer.model_validate_json(response.content).error
    except ValidationError:
        return None, None
    return error.type, error.code


def own_reading(response: httpx.Response) -> ProviderFault | None:
    """OXXO's answers that mean more than their status: a key reused, refusals."""
    if response.status_code < 400 or response.status_code in (401, 403, 408, 429):
        return None
    if response.status_code >= 500:
        return None
    kind, code = _error(response)
    if kind == IDEMPOTENCY_ERROR:
        return AlreadySubmitted(f"{PROVIDER_NAME} holds a voucher under this Idempotency-Key")
    return Refused(
        ProviderRejected,
        f"{PROVIDER_NAME} refused the voucher: {(code or 'unknown')[:40]}"
        f" (HTTP {response.status_code})",
    )


def issued_voucher(intent: PaymentIntent, event_id: str) -> IssuedVoucher:
    """The voucher a PaymentIntent describes, and where it stands."""
    details = intent.next_action.oxxo_display_details
    return IssuedVoucher(
        report=report(intent, event_id),
        voucher_reference=details.number,
        barcode=details.number,
        expires_at=details.expires_after,
        receipt_url=details.hosted_voucher_url,
    )


class OxxoVouchers:
    """Cash vouchers through OXXO, on a client carrying its base URL, token and timeout."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings | None = None) -> None:
        """Keep the client; OXXO needs nothing else from its settings."""
        self._http = http

    async def create_voucher(self, order: CreateVoucherInput) -> IssuedVoucher:
        """POST the voucher under our reference as its Idempotency-Key.

        Raises:
            ProviderFault: Ambiguous (no answer, 5xx, unreadable answer), Transient,
                Refused (limits, a payer the network blocks, credentials).
        """
        options = (
            PaymentMethodOptions(oxxo=OxxoOptions(expires_after_days=order.expires_in_days))
            if order.expires_in_days is not None
            else None
        )
        body = PaymentIntentRequest(
            amount=order.amount.to_major(),
            currency=order.amount.currency,
            payment_method_data=PaymentMethodData(
                billing_details=BillingDetails(name=order.payer.name, email=order.payer.email)
            ),
            payment_method_options=options,
            payer_document=PayerDocument(
                type=order.payer.document_type.value, number=order.payer.document_number
            ),
            metadata={REFERENCE_KEY: order.reference},
            description=order.description,
        ).model_dump(mode="json", exclude_none=True)
        try:
            response = await send(
                self._http,
                PAYMENT_INTENTS_PATH,
                PROVIDER_NAME,
                json=body,
                headers={IDEMPOTENCY_HEADER: order.reference},
                own_reading=own_reading,
            )
        except AlreadySubmitted:
            # OXXO holds a voucher under our key (from another body): that one is ours.
            found = await self.find_voucher(order.reference)
            if found is None:
                raise
            return found
        try:
            intent = PaymentIntent.model_validate_json(response.content)
        except ValidationError:
            raise Ambiguous(f"{PROVIDER_NAME} answered an unreadable voucher") from None
        return issued_voucher(intent, f"ack:{order.reference}:{intent.status.value}")

    async def _find(self, reference: str) -> PaymentIntent | None:
        path = f"{PAYMENT_INTENTS_PATH}?{REFERENCE_KEY}={quote(reference, safe='')}"
        body = await fetch(self._http, path, PROVIDER_NAME)
        if body is None:
            return None
        try:
            found = PaymentIntentList.model_validate_json(body).data
        except ValidationError:
            raise Transient(f"{PROVIDER_NAME} answered an unreadable list") from None
        # Ours carry our reference; the newest is the one our key created.
        ours = [intent for intent in found if intent.reference == reference]
        return ours[-1] if ours else None

    async def find_voucher(self, reference: str) -> IssuedVoucher | None:
        """The voucher carrying our reference; None when OXXO issued none for it."""
        intent = await self._find(reference)
        if intent is None:
            return None
        return issued_voucher(intent, f"status:{reference}:{intent.status.value}")

    async def cancel_voucher(self, reference: str) -> ProviderEvent | None:
        """Cancel the voucher carrying our reference; None when OXXO issued none.

        Raises:
            ProviderFault: Refused(ProviderConflict) once it was paid at the shop;
                Transient when it cannot be found now; Ambiguous when the cancel's
                answer was lost (ask for the status).
        """
        intent = await self._find(reference)
        if intent is None:
            return None
        path = f"{PAYMENT_INTENTS_PATH}/{quote(intent.id, safe='')}/cancel"
        try:
            response = await self._http.post(path)
        except httpx.TransportError as exc:
            raise Ambiguous(type(exc).__name__) from exc
        if response.status_code == 404:
            return None
        if response.status_code == 409:
            raise Refused(ProviderConflict, f"{PROVIDER_NAME} voucher already paid: no cancel")
        fault = read_status(response.status_code, PROVIDER_NAME, submitting=True)
        if fault is not None:
            raise fault
        try:
            cancelled = PaymentIntent.model_validate_json(response.content)
        except ValidationError:
            raise Ambiguous(f"{PROVIDER_NAME} answered an unreadable cancel") from None
        return report(cancelled, f"cancel:{reference}:{cancelled.status.value}")
