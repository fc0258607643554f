"""What a provider plugin is: Protocols per capability, its settings, and the faults it raises.

A provider lives in one folder under ``activities/providers/`` and describes itself with
one :class:`ProviderSpec` (its name, settings, webhook signature scheme and webhook
translator, and a factory per capability it supports); ``registry.py`` lists the specs.
Adapters only speak the provider's HTTP dialect: they raise the :class:`ProviderFault`
subclasses below, and the generic activities (``activities/payouts.py``) turn those into
the exactly-once protocol and into retryable or final Temporal errors, once for all
providers.

    ProviderFault
    ├── Ambiguous          the request may have reached the provider: ask before resending
    ├── AlreadySubmitted   the provider already holds our reference: ask for its status
    ├── Transient          nothing happened (throttled, status API down): retry later
    └── Refused            final: credentials, conflict or a business refusal
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import httpx
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings

from payments_engine.domain.card import (
    AuthorizationDecision,
    AuthorizationRequest,
    CardholderStatus,
    CreateCardholderInput,
    CreateCardInput,
    IssuedCard,
    LowBalanceNotice,
    NetworkTransaction,
)
from payments_engine.domain.cash import CreateVoucherInput, IssuedVoucher, VoucherRules
from payments_engine.domain.collection import RequestCollectionInput
from payments_engine.domain.errors import (
    InvalidAmount,
    ProviderAuthError,
    ProviderConflict,
    ProviderRejected,
    UnknownCurrency,
)
from payments_engine.domain.events import ProviderEvent
from payments_engine.domain.money import currency_exponent, major_to_minor
from payments_engine.domain.payout import SubmitPayoutInput
from payments_engine.domain.reconciliation import ReportSpec
from payments_engine.domain.refund import SubmitRefundInput
from payments_engine.domain.webhooks import SignatureScheme

DEFAULT_TIMEOUT_SECONDS = 10.0


class ProviderFault(Exception):
    """Base of what an adapter raises instead of an HTTP status; ``str()`` is loggable."""


class Ambiguous(ProviderFault):
    """The request may have reached the provider (timeout, reset, 5xx): ask, never resend."""


class AlreadySubmitted(ProviderFault):
    """The provider already holds a transfer with our reference (its duplicate answer)."""


class Transient(ProviderFault):
    """Nothing happened at the provider (throttling, a status query failed): retry later."""


class Refused(ProviderFault):
    """A final answer: the engine's error type says which (auth, conflict, rejection)."""

    def __init__(
        self,
        error: type[ProviderRejected | ProviderConflict | ProviderAuthError],
        message: str,
    ) -> None:
        """Keep the engine error type beside the message."""
        super().__init__(message)
        self.error = error


class ProviderNotSupported(LookupError):
    """No provider of that name, or it lacks the capability asked for."""


def read_status(status: int, provider: str, *, submitting: bool) -> ProviderFault | None:
    """The engine's reading of an HTTP status every provider shares; None for 2xx.

    Providers differ on a few codes (a 409 is a duplicate at one and a conflict at
    another): adapters check those first and hand the rest here.

    Args:
        status: the HTTP status code.
        provider: the provider's name, for messages.
        submitting: True for a call that may have moved money (a 5xx is then ambiguous).
    """
    if status < 300:
        return None
    if status >= 500:
        what = f"{provider} answered HTTP {status}"
        return Ambiguous(what) if submitting else Transient(what)
    if status in (401, 403):
        return Refused(ProviderAuthError, f"{provider} refused our credentials ({status})")
    if status in (408, 429):
        return Transient(f"{provider} asked us to slow down ({status})")
    if not submitting:
        return Transient(f"{provider} status query answered HTTP {status}")
    return Refused(ProviderRejected, f"{provider} refused the request ({status})")


async def send(
    http: httpx.AsyncClient,
    path: str,
    provider: str,
    *,
    json: object,
    headers: dict[str, str] | None = None,
    own_reading: Callable[[httpx.Response], ProviderFault | None] = lambda _: None,
) -> httpx.Response:
    """POST a request that may move money; return the answer if it is a success.

    Args:
        http: the provider's client.
        path: the resource.
        provider: its name, for messages.
        json: the body.
        headers: headers of this request only (an idempotency key).
        own_reading: the provider's reading of the answers it spells its own way (a
            409 that means "duplicate"), tried before :func:`read_status`.

    Raises:
        ProviderFault: Ambiguous when the request may have arrived (no answer, 5xx);
            otherwise what the answer says.
    """
    try:
        response = await http.post(path, json=json, headers=headers)
    except httpx.TransportError as exc:
        raise Ambiguous(type(exc).__name__) from exc
    fault = own_reading(response) or read_status(response.status_code, provider, submitting=True)
    if fault is not None:
        raise fault
    return response


async def fetch(http: httpx.AsyncClient, path: str, provider: str) -> bytes | None:
    """GET a status resource: its body, or None when the provider has no record (404).

    Raises:
        ProviderFault: Transient when it cannot answer now, Refused for credentials.
    """
    try:
        response = await http.get(path)
    except httpx.TransportError as exc:
        raise Transient(f"status query failed: {type(exc).__name__}") from exc
    if response.status_code == 404:
        return None
    fault = read_status(response.status_code, provider, submitting=False)
    if fault is not None:
        raise fault
    return response.content


def float_balances(amounts: Iterable[tuple[str, str]], provider: str) -> dict[str, int]:
    """A provider's float as it states it (currency, major-unit string) in minor units.

    A currency the engine does not pay in is left out; a negative float (an overdraft,
    written ``-12.50``) stays negative.

    Args:
        amounts: (currency code, major-unit amount) pairs, as the provider wrote them.
        provider: its name, for messages.

    Raises:
        Transient: an amount is not a decimal of its currency: no reading this time.
    """
    balances: dict[str, int] = {}
    for currency, amount in amounts:
        try:
            currency_exponent(currency)
        except UnknownCurrency:
            continue
        negative = amount.startswith("-")
        try:
            minor = major_to_minor(amount[1:] if negative else amount, currency)
        except InvalidAmount as exc:
            raise Transient(f"{provider} stated an unreadable {currency} float: {exc}") from None
        balances[currency] = -minor if negative else minor
    return balances


class ProviderSettings(BaseSettings):
    """Settings every provider has, from ``PAYMENTS_<PROVIDER>_<FIELD>`` variables.

    A provider's own settings class subclasses this and sets its ``env_prefix``, e.g.
    ``PAYMENTS_HUB_``; fields it adds follow the same naming.
    """

    base_url: str | None = Field(
        default=None, description="API base URL; default the sandbox's simulator of it."
    )
    api_key: SecretStr | None = Field(default=None, description="Credential for its API.")
    webhook_secret: SecretStr | None = Field(
        default=None, description="Secret its webhooks are signed with."
    )
    timeout_seconds: float = Field(
        default=DEFAULT_TIMEOUT_SECONDS, gt=0, description="Per-request timeout of its API."
    )
    collection_fee_bps: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="Its collection fee in basis points, for answers that state no fee.",
    )

    @property
    def configured(self) -> bool:
        """True once the API credential is set: a worker then serves this provider."""
        return self.api_key is not None and bool(self.api_key.get_secret_value())


class PayoutProvider(Protocol):
    """Pays out to a wallet or account: send once, and find a transfer by our reference."""

    async def send_payout(self, order: SubmitPayoutInput) -> ProviderEvent:
        """Send the payout once; return where it stands per the provider's answer.

        Raises:
            ProviderFault: Ambiguous, AlreadySubmitted, Transient or Refused.
        """
        ...

    async def find_payout(self, reference: str) -> ProviderEvent | None:
        """Ask the provider's status API; None when it has no record of the reference.

        Raises:
            ProviderFault: Transient or Refused.
        """
        ...


class CollectionProvider(Protocol):
    """Takes money in from a payer's wallet: ask the payer, find it, cancel it."""

    async def request_collection(self, order: RequestCollectionInput) -> ProviderEvent:
        """Ask the payer (once per reference); return where it stands per the answer.

        Raises:
            ProviderFault: Ambiguous, AlreadySubmitted, Transient or Refused.
        """
        ...

    async def find_collection(self, reference: str) -> ProviderEvent | None:
        """Ask the provider's status API; None when it has no record of the reference.

        Raises:
            ProviderFault: Transient or Refused.
        """
        ...

    async def cancel_collection(self, reference: str) -> ProviderEvent | None:
        """Withdraw the request to pay; where it stands after, None if never seen.

        Raises:
            ProviderFault: Refused(ProviderConflict) when it can no longer be cancelled
                (paid, or the payer's approval is under way), Transient, Ambiguous.
        """
        ...


class RefundProvider(Protocol):
    """Gives (part of) a collection back to its payer, once per refund reference."""

    async def send_refund(self, order: SubmitRefundInput) -> ProviderEvent:
        """Send the refund once; return where it stands per the provider's answer.

        Raises:
            ProviderFault: Ambiguous, Transient or Refused (the provider's reason in
                the message: invalid transaction, amount exceeded, window passed ...).
        """
        ...

    async def find_refund(self, reference: str) -> ProviderEvent | None:
        """Find a refund by our reference (recovers the provider's id after a timeout).

        Raises:
            ProviderFault: Transient or Refused.
        """
        ...


class CardIssuingProvider(Protocol):
    """Issues prepaid virtual cards: cardholders with KYC, cards, and the network's record."""

    async def create_cardholder(self, inp: CreateCardholderInput) -> CardholderStatus:
        """Register the cardholder (once per card reference); KYC starts.

        Raises:
            ProviderFault: Ambiguous (safe to resend: idempotency key), Transient, Refused.
        """
        ...

    async def get_cardholder(self, token: str) -> CardholderStatus | None:
        """The cardholder's KYC verdict now; None if unknown.

        Raises:
            ProviderFault: Transient or Refused.
        """
        ...

    async def create_card(self, inp: CreateCardInput) -> IssuedCard:
        """Issue the card (once per card reference).

        Raises:
            ProviderFault: Ambiguous (safe to resend), Transient, Refused (KYC not approved).
        """
        ...

    async def close_card(self, token: str) -> None:
        """Close the card at the issuer (idempotent).

        Raises:
            ProviderFault: Ambiguous, Transient or Refused.
        """
        ...

    async def get_transaction(self, token: str) -> NetworkTransaction | None:
        """The issuer's record of one network event; None if it has none.

        Raises:
            ProviderFault: Transient or Refused.
        """
        ...

    async def notify(self, notice: LowBalanceNotice) -> None:
        """Send a low-balance alert to the platform through the issuer.

        Raises:
            ProviderFault: Ambiguous, Transient or Refused.
        """
        ...


class CashVoucherProvider(Protocol):
    """A cash network: issue a voucher the payer pays at a shop, find it, cancel it.

    Reports about a voucher are :class:`ProviderEvent` s: ``pending`` until the network
    confirms a payment, ``succeeded`` once it has (``occurred_at`` is when the payer
    paid at the shop, which decides whether it was before the expiry; ``fee_minor`` the
    network's fee), ``failed`` with ``failure_code`` ``expired`` or ``cancelled`` (or the
    network's reason) when it will take no payment. A paid voucher the network accepted
    after its expiry reports ``succeeded`` with a payment time after the expiry.
    """

    async def create_voucher(self, order: CreateVoucherInput) -> IssuedVoucher:
        """Issue the voucher (once per reference: a repeat answers the same voucher).

        Raises:
            ProviderFault: Ambiguous, AlreadySubmitted, Transient or Refused.
        """
        ...

    async def find_voucher(self, reference: str) -> IssuedVoucher | None:
        """The network's record of the voucher with our reference; None if it has none.

        Raises:
            ProviderFault: Transient or Refused.
        """
        ...

    async def cancel_voucher(self, reference: str) -> ProviderEvent | None:
        """Stop the network taking payments for it; where it stands after, None if unknown.

        Raises:
            ProviderFault: Refused(ProviderConflict) when it can no longer be cancelled
                (already paid), Transient, Ambiguous.
        """
        ...


class FloatProvider(Protocol):
    """Reads the provider's float: the prefunded money it can pay out for us, per currency."""

    async def get_float(self) -> dict[str, int]:
        """Currency -> minor units available to pay out now, as the provider states them.

        Currencies the engine does not pay in are left out; a provider that states no
        float in a currency has none there.

        Raises:
            ProviderFault: Transient (throttled, unreachable, an unreadable answer) or
                Refused (credentials, a request it will never answer).
        """
        ...


@dataclass(frozen=True)
class AuthorizationCodec:
    """How an issuer asks for an authorization and how it wants the answer.

    Attributes:
        parse: a verified request body -> (our card reference, the request); raises
            MalformedEvent.
        answer: our decision -> the JSON body the issuer expects.
    """

    parse: Callable[[bytes], tuple[str, AuthorizationRequest]]
    answer: Callable[[AuthorizationDecision], dict[str, object]]


WebhookTranslator = Callable[[bytes], ProviderEvent]
"""Turns an authenticated webhook body into a :class:`ProviderEvent`; raises MalformedEvent."""


class MalformedEvent(ValueError):
    """A webhook body is not a valid event of its provider (bad JSON, fields, codes)."""


def malformed(provider: str, exc: ValidationError) -> MalformedEvent:
    """A :class:`MalformedEvent` naming the bad fields, never their values.

    pydantic's own message quotes the input, and webhook bodies hold personal data
    (phone numbers, names) that must not reach logs; raise it ``from None`` so the
    ValidationError is not chained into tracebacks either.
    """
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '<body>'} ({error['type']})"
        for error in exc.errors(include_input=False, include_url=False)
    ]
    return MalformedEvent(f"invalid {provider} webhook: {', '.join(problems)}")


@dataclass(frozen=True)
class ProviderSpec:
    """Everything the engine needs to know about one provider.

    Attributes:
        name: the name in requests, settings (``PAYMENTS_<NAME>_*``), ledger accounts
            and the relay's path ``/webhooks/<name>``.
        settings_type: its settings class (reads its own variables).
        signature: the scheme its webhooks are signed with.
        translate: its webhook translator.
        auth_headers: the headers its API wants on every call, from its settings.
        sandbox_path: where the sandbox serves its simulator (the default base URL).
        payouts: builds its payout adapter on an HTTP client; None if it pays nothing out.
        collections: builds its collection adapter; None if it collects nothing.
        refunds: builds its refund adapter; None if it cannot refund a collection.
        cards: builds its card-issuing adapter; None if it issues no cards.
        authorizations: its synchronous authorization request and answer formats,
            served by the relay at ``/authorizations/<name>``; None if it sends none.
        vouchers: builds its cash-voucher adapter; None if it is not a cash network.
        voucher_rules: what its vouchers accept (with ``vouchers``), checked by the
            client before an order starts.
        settlement_report: where and how it publishes its daily settlement report, for
            reconciliation; None if it publishes none.
        floats: builds its float reader (the prefunded balance it pays out from); None
            if it states none.
    """

    name: str
    settings_type: type[ProviderSettings]
    signature: SignatureScheme
    translate: WebhookTranslator
    auth_headers: Callable[[ProviderSettings], dict[str, str]]
    sandbox_path: str
    payouts: Callable[[httpx.AsyncClient, ProviderSettings], PayoutProvider] | None = None
    collections: Callable[[httpx.AsyncClient, ProviderSettings], CollectionProvider] | None = None
    refunds: Callable[[httpx.AsyncClient, ProviderSettings], RefundProvider] | None = None
    cards: Callable[[httpx.AsyncClient, ProviderSettings], CardIssuingProvider] | None = None
    authorizations: AuthorizationCodec | None = None
    vouchers: Callable[[httpx.AsyncClient, ProviderSettings], CashVoucherProvider] | None = None
    voucher_rules: VoucherRules | None = None
    settlement_report: ReportSpec | None = None
    floats: Callable[[httpx.AsyncClient, ProviderSettings], FloatProvider] | None = None
