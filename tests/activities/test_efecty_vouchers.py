"""Efecty's adapter against the sandbox's Efecty, and against scripted failures."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from payments_engine.activities.providers.base import (
    AlreadySubmitted,
    Ambiguous,
    MalformedEvent,
    Refused,
    Transient,
)
from payments_engine.activities.providers.efecty import SPEC
from payments_engine.activities.providers.efecty.adapter import EfectyVouchers
from payments_engine.activities.providers.efecty.settings import EfectySettings
from payments_engine.activities.providers.registry import voucher_spec
from payments_engine.domain.bank import DocumentType
from payments_engine.domain.cash import CreateVoucherInput, Payer
from payments_engine.domain.errors import (
    InvalidAmount,
    ProviderAuthError,
    ProviderConflict,
    ProviderRejected,
    ValidationFailed,
)
from payments_engine.domain.events import TransferOutcome
from payments_engine.domain.money import Money
from tests.sandbox.cash.support import (
    EFECTY_KEY,
    EFECTY_SECRET,
    CashSandbox,
    parse_time,
    running_cash,
)
from tests.sandbox.support import SANDBOX_URL, wait_until

AMOUNT = Money(amount=12_000_000, currency="COP")  # 120,000 pesos


def order(
    reference: str = "cash-order-o1", magic: str = "00", **fields: object
) -> CreateVoucherInput:
    """A voucher order whose payer's CC ends with ``magic``."""
    values: dict[str, object] = {
        "reference": reference,
        "provider": "efecty",
        "amount": AMOUNT,
        "country": "CO",
        "payer": Payer(
            name="María Gómez", document_type=DocumentType.CC, document_number="10203040" + magic
        ),
        "description": "order o1",
        **fields,
    }
    return CreateVoucherInput.model_validate(values)


def adapter_on(transport: httpx.AsyncBaseTransport) -> tuple[httpx.AsyncClient, EfectyVouchers]:
    settings = EfectySettings(api_key=SecretStr(EFECTY_KEY))
    http = httpx.AsyncClient(
        transport=transport,
        base_url=f"{SANDBOX_URL}/efecty",
        headers=SPEC.auth_headers(settings),
    )
    return http, EfectyVouchers(http, settings)


@pytest.fixture
async def cash() -> AsyncIterator[CashSandbox]:
    async with running_cash() as running:
        yield running


@pytest.fixture
async def efecty(cash: CashSandbox) -> AsyncIterator[EfectyVouchers]:
    http, adapter = adapter_on(httpx.ASGITransport(app=cash.app))
    async with http:
        yield adapter


def test_the_spec_declares_efectys_rules() -> None:
    assert voucher_spec("efecty") is SPEC
    rules = SPEC.voucher_rules
    assert rules is not None and (rules.currency, rules.timezone) == ("COP", "America/Bogota")
    payer = order().payer
    rules.check(AMOUNT, "CO", payer, None)
    with pytest.raises(InvalidAmount, match="whole COP"):
        rules.check(Money(amount=12_000_050, currency="COP"), "CO", payer, 7)
    with pytest.raises(InvalidAmount):
        rules.check(Money(amount=1_999_900, currency="COP"), "CO", payer, 7)
    with pytest.raises(InvalidAmount):
        rules.check(Money(amount=600_000_100, currency="COP"), "CO", payer, 7)
    with pytest.raises(ValidationFailed):
        rules.check(AMOUNT, "CO", payer, 8)
    curp = Payer(name="Ana", document_type=DocumentType.CURP, document_number="GODE561231HDFRRN01")
    with pytest.raises(ValidationFailed):
        rules.check(AMOUNT, "CO", curp, 3)


async def test_a_voucher_is_issued_pending_with_what_the_payer_needs(
    efecty: EfectyVouchers, cash: CashSandbox
) -> None:
    voucher = await efecty.create_voucher(order())
    report = voucher.report
    assert (report.outcome, report.provider_status) == (TransferOutcome.PENDING, "PENDING")
    assert (report.reference, report.event_id) == ("cash-order-o1", "ack:cash-order-o1:PENDING")
    assert (report.amount_reported, report.amount_minor, report.currency) == (
        "120000",
        12_000_000,
        "COP",
    )
    assert report.mismatch("cash-order-o1", AMOUNT) is None
    assert voucher.voucher_reference.isdigit() and 9 <= len(voucher.voucher_reference) <= 10
    assert voucher.barcode and voucher.voucher_reference in voucher.barcode
    assert voucher.receipt_url and voucher.receipt_url.endswith(".html")
    view = await cash.efecty.voucher("cash-order-o1")
    assert abs(voucher.expires_at - parse_time(view["expires_at"])) < timedelta(milliseconds=1)
    assert report.provider_transaction_id == view["network_id"]
    assert view["document_type"] == "CC" and view["amount_minor"] == 12_000_000


async def test_creating_twice_answers_the_same_voucher(
    efecty: EfectyVouchers, cash: CashSandbox
) -> None:
    first = await efecty.create_voucher(order())
    again = await efecty.create_voucher(order())
    assert again.voucher_reference == first.voucher_reference
    assert again.report.event_id == "status:cash-order-o1:PENDING"
    (voucher,) = cash.efecty.store.transfers()
    assert voucher.submit_count == 2


async def test_a_paid_voucher_reports_the_shops_time_and_the_fee(
    efecty: EfectyVouchers, cash: CashSandbox
) -> None:
    assert await efecty.find_voucher("cash-order-o1") is None
    await efecty.create_voucher(order(magic="01"))
    await cash.efecty.wait_for_state("cash-order-o1", "APPROVED")
    found = await efecty.find_voucher("cash-order-o1")
    assert found is not None
    report = found.report
    view = await cash.efecty.voucher("cash-order-o1")
    assert (report.outcome, report.failure_code) == (TransferOutcome.SUCCEEDED, None)
    assert report.event_id == "status:cash-order-o1:APPROVED"
    assert report.occurred_at is not None
    # When the payer paid at the shop, not when the network confirmed it.
    assert abs(report.occurred_at - parse_time(view["paid_at"])) < timedelta(milliseconds=1)
    assert report.occurred_at < parse_time(view["confirmed_at"])
    assert (report.fee_reported, report.fee_minor) == ("3480", 348_000)
    assert report.mismatch("cash-order-o1", AMOUNT) is None


async def test_expired_cancelled_and_late_paid_vouchers(
    efecty: EfectyVouchers, cash: CashSandbox
) -> None:
    await efecty.create_voucher(order("cash-order-x", "02"))
    await efecty.create_voucher(order("cash-order-c"))
    await efecty.create_voucher(order("cash-order-late", "04"))
    cancelled = await efecty.cancel_voucher("cash-order-c")
    assert cancelled is not None
    assert (cancelled.outcome, cancelled.failure_code, cancelled.event_id) == (
        TransferOutcome.FAILED,
        "cancelled",
        "cancel:cash-order-c:CANCELLED",
    )
    assert await efecty.cancel_voucher("cash-order-none") is None
    await cash.efecty.wait_for_state("cash-order-x", "EXPIRED")
    expired = await efecty.find_voucher("cash-order-x")
    assert expired is not None and expired.report.failure_code == "expired"
    # Cancelling an expired voucher answers it as it is.
    again = await efecty.cancel_voucher("cash-order-x")
    assert again is not None and again.failure_code == "expired"

    await cash.efecty.wait_for_state("cash-order-late", "APPROVED")
    late = await efecty.find_voucher("cash-order-late")
    assert late is not None and late.report.occurred_at is not None
    assert late.report.outcome is TransferOutcome.SUCCEEDED
    assert late.report.occurred_at > late.expires_at


async def test_a_paid_voucher_cannot_be_cancelled(
    efecty: EfectyVouchers, cash: CashSandbox
) -> None:
    await efecty.create_voucher(order(magic="07"))

    async def paid() -> bool:
        return (await cash.efecty.voucher("cash-order-o1"))["paid_at"] is not None

    await wait_until(paid, 5.0, "the payment at the shop")
    with pytest.raises(Refused) as refused:
        await efecty.cancel_voucher("cash-order-o1")
    assert refused.value.error is ProviderConflict
    found = await efecty.find_voucher("cash-order-o1")
    assert found is not None and found.report.outcome is TransferOutcome.PENDING


async def test_a_blocked_payer_is_refused_and_nothing_is_issued(efecty: EfectyVouchers) -> None:
    with pytest.raises(Refused) as refused:
        await efecty.create_voucher(order(magic="08"))
    assert refused.value.error is ProviderRejected
    assert "PAYER_BLOCKED" in str(refused.value)
    assert await efecty.find_voucher("cash-order-o1") is None


async def test_the_asked_expiry_reaches_efecty() -> None:
    async with running_cash(efecty={"voucher_lifetime_seconds": None}) as cash:
        http, efecty = adapter_on(httpx.ASGITransport(app=cash.app))
        async with http:
            voucher = await efecty.create_voucher(order(expires_in_days=3))
            default = await efecty.create_voucher(order("cash-order-o2"))
    now = datetime.now(UTC)
    assert abs(voucher.expires_at - now - timedelta(days=3)) < timedelta(seconds=10)
    assert abs(default.expires_at - now - timedelta(days=7)) < timedelta(seconds=10)


async def test_confirmations_are_signed_and_translated(
    efecty: EfectyVouchers, cash: CashSandbox
) -> None:
    await efecty.create_voucher(order("cash-order-p", "01"))
    await efecty.create_voucher(order("cash-order-x", "02"))
    await efecty.create_voucher(order("cash-order-c"))
    await efecty.cancel_voucher("cash-order-c")
    await cash.efecty.wait_for_notifications(3)
    events = {}
    for request in cash.efecty.notifications():
        SPEC.signature.verify(EFECTY_SECRET, request.headers, request.content, now=time.time())
        event = SPEC.translate(request.content)
        events[event.reference] = event
        assert (
            event.needs_confirmation
            and event.event_id == json.loads(request.content)["notification_id"]
        )
    paid = events["cash-order-p"]
    assert (paid.outcome, paid.amount_minor, paid.fee_minor) == (
        TransferOutcome.SUCCEEDED,
        12_000_000,
        348_000,
    )
    assert paid.occurred_at is not None and paid.provider_transaction_id
    assert (events["cash-order-x"].outcome, events["cash-order-x"].failure_code) == (
        TransferOutcome.FAILED,
        "expired",
    )
    assert events["cash-order-c"].failure_code == "cancelled"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        json.dumps(
            {
                "notification_id": "n",
                "reference_sale": "r",
                "state_pol": "9",
                "value": "1",
                "currency": "COP",
                "secret": "10203040",
            }
        ).encode(),
    ],
)
def test_a_malformed_confirmation_is_refused_without_its_values(body: bytes) -> None:
    with pytest.raises(MalformedEvent) as caught:
        SPEC.translate(body)
    assert "10203040" not in str(caught.value)
    assert caught.value.__cause__ is None


def _scripted(
    handler: Callable[[httpx.Request], httpx.Response],
) -> tuple[httpx.AsyncClient, EfectyVouchers]:
    return adapter_on(httpx.MockTransport(handler))


def _raise(kind: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        raise kind("boom", request=request)

    return handle


@pytest.mark.parametrize(
    ("handler", "fault"),
    [
        (_raise(httpx.ReadTimeout), Ambiguous),
        (_raise(httpx.ConnectError), Ambiguous),
        (lambda _: httpx.Response(500), Ambiguous),
        (lambda _: httpx.Response(201, json={"code": "SUCCESS"}), Ambiguous),
        (lambda _: httpx.Response(429), Transient),
        (lambda _: httpx.Response(401), Refused),
        (lambda _: httpx.Response(400, json={"error": "INVALID_VALUE"}), Refused),
    ],
)
async def test_what_a_create_raises(
    handler: Callable[[httpx.Request], httpx.Response], fault: type[Exception]
) -> None:
    http, efecty = _scripted(handler)
    async with http:
        with pytest.raises(fault) as caught:
            await efecty.create_voucher(order())
    if isinstance(caught.value, Refused) and "401" in str(caught.value):
        assert caught.value.error is ProviderAuthError


async def test_a_duplicate_efecty_cannot_show_is_left_to_the_protocol() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(409, json={"code": "ERROR", "error": "DUPLICATE_REFERENCE_CODE"})
        return httpx.Response(404, json={"code": "ERROR", "error": "NOT_FOUND"})

    http, efecty = _scripted(handle)
    async with http:
        with pytest.raises(AlreadySubmitted):
            await efecty.create_voucher(order())


async def test_centavos_never_reach_efecty() -> None:
    sent: list[httpx.Request] = []
    http, efecty = _scripted(lambda request: sent.append(request) or httpx.Response(500))
    async with http:
        with pytest.raises(Refused, match="whole pesos"):
            await efecty.create_voucher(order(amount=Money(amount=12_000_050, currency="COP")))
    assert sent == []


@pytest.mark.parametrize(
    ("handler", "fault"),
    [
        (_raise(httpx.ReadTimeout), Transient),
        (lambda _: httpx.Response(503), Transient),
        (lambda _: httpx.Response(200, json={"nope": 1}), Transient),
        (lambda _: httpx.Response(403), Refused),
    ],
)
async def test_what_a_status_query_raises(
    handler: Callable[[httpx.Request], httpx.Response], fault: type[Exception]
) -> None:
    http, efecty = _scripted(handler)
    async with http:
        with pytest.raises(fault):
            await efecty.find_voucher("cash-order-o1")


@pytest.mark.parametrize(
    ("handler", "fault"),
    [
        (_raise(httpx.ReadTimeout), Ambiguous),
        (lambda _: httpx.Response(502), Ambiguous),
        (lambda _: httpx.Response(200, content=b"?"), Ambiguous),
        (lambda _: httpx.Response(429), Transient),
    ],
)
async def test_what_a_cancel_raises(
    handler: Callable[[httpx.Request], httpx.Response], fault: type[Exception]
) -> None:
    http, efecty = _scripted(handler)
    async with http:
        with pytest.raises(fault):
            await efecty.cancel_voucher("cash-order-o1")


async def test_references_are_quoted_in_paths() -> None:
    paths: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(404)

    http, efecty = _scripted(handle)
    async with http:
        assert await efecty.find_voucher("cash-order-a/b") is None
    assert paths == ["/efecty/v4/transactions/cash-order-a%2Fb"]
