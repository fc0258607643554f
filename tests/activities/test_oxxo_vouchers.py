"""OXXO's adapter against the sandbox's OXXO, and against scripted failures."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import SecretStr

from payments_engine.activities.providers.base import (
    Ambiguous,
    MalformedEvent,
    Refused,
    Transient,
)
from payments_engine.activities.providers.oxxo import SPEC
from payments_engine.activities.providers.oxxo.adapter import OxxoVouchers
from payments_engine.activities.providers.oxxo.settings import OxxoSettings
from payments_engine.activities.providers.registry import voucher_spec
from payments_engine.domain.bank import DocumentType
from payments_engine.domain.cash import CreateVoucherInput, Payer
from payments_engine.domain.errors import (
    InvalidAmount,
    ProviderConflict,
    ProviderRejected,
    ValidationFailed,
)
from payments_engine.domain.events import TransferOutcome
from payments_engine.domain.money import Money
from tests.sandbox.cash.support import (
    OXXO_KEY,
    OXXO_SECRET,
    CashSandbox,
    parse_time,
    running_cash,
)
from tests.sandbox.support import SANDBOX_URL, wait_until

AMOUNT = Money(amount=150_000, currency="MXN")  # 1,500.00 pesos


def order(
    reference: str = "cash-order-o1", magic: str = "00", **fields: object
) -> CreateVoucherInput:
    """A voucher order whose payer's CURP ends with ``magic``."""
    values: dict[str, object] = {
        "reference": reference,
        "provider": "oxxo",
        "amount": AMOUNT,
        "country": "MX",
        "payer": Payer(
            name="Diego López",
            document_type=DocumentType.CURP,
            document_number="GODE561231HDFRRN" + magic,
        ),
        "description": "order o1",
        **fields,
    }
    return CreateVoucherInput.model_validate(values)


def adapter_on(transport: httpx.AsyncBaseTransport) -> tuple[httpx.AsyncClient, OxxoVouchers]:
    settings = OxxoSettings(api_key=SecretStr(OXXO_KEY))
    http = httpx.AsyncClient(
        transport=transport, base_url=f"{SANDBOX_URL}/oxxo", headers=SPEC.auth_headers(settings)
    )
    return http, OxxoVouchers(http, settings)


@pytest.fixture
async def cash() -> AsyncIterator[CashSandbox]:
    async with running_cash() as running:
        yield running


@pytest.fixture
async def oxxo(cash: CashSandbox) -> AsyncIterator[OxxoVouchers]:
    http, adapter = adapter_on(httpx.ASGITransport(app=cash.app))
    async with http:
        yield adapter


def test_the_spec_declares_oxxos_rules() -> None:
    assert voucher_spec("oxxo") is SPEC
    rules = SPEC.voucher_rules
    assert rules is not None and (rules.currency, rules.default_expiry_days) == ("MXN", 3)
    payer = order().payer
    rules.check(Money(amount=1_050, currency="MXN"), "MX", payer, 7)
    with pytest.raises(InvalidAmount):
        rules.check(Money(amount=999, currency="MXN"), "MX", payer, 3)
    with pytest.raises(InvalidAmount):
        rules.check(Money(amount=1_000_001, currency="MXN"), "MX", payer, 3)
    with pytest.raises(ValidationFailed):
        rules.check(AMOUNT, "CO", payer, 3)
    with pytest.raises(ValidationFailed):
        rules.check(AMOUNT, "MX", payer, 0)


async def test_a_voucher_is_issued_pending_with_its_barcode_number(
    oxxo: OxxoVouchers, cash: CashSandbox
) -> None:
    voucher = await oxxo.create_voucher(order())
    report = voucher.report
    assert (report.outcome, report.provider_status) == (TransferOutcome.PENDING, "requires_action")
    assert report.event_id == "ack:cash-order-o1:requires_action"
    assert (report.amount_reported, report.amount_minor) == ("1500.00", 150_000)
    assert report.mismatch("cash-order-o1", AMOUNT) is None
    assert len(voucher.voucher_reference) >= 14 and voucher.barcode == voucher.voucher_reference
    assert voucher.receipt_url and voucher.voucher_reference in voucher.receipt_url
    view = await cash.oxxo.voucher("cash-order-o1")
    assert voucher.expires_at == parse_time(view["expires_at"])
    assert report.provider_transaction_id == view["network_id"]


async def test_creating_twice_answers_the_same_voucher(
    oxxo: OxxoVouchers, cash: CashSandbox
) -> None:
    first = await oxxo.create_voucher(order())
    again = await oxxo.create_voucher(order())
    assert again.voucher_reference == first.voucher_reference
    # Another body under the same key (our reference): OXXO refuses it, ours is read.
    other = await oxxo.create_voucher(order(amount=Money(amount=20_000, currency="MXN")))
    assert other.voucher_reference == first.voucher_reference
    assert other.report.mismatch("cash-order-o1", Money(amount=20_000, currency="MXN"))
    (voucher,) = cash.oxxo.store.transfers()
    assert voucher.submit_count == 3


async def test_the_expiry_asked_for_ends_the_last_day_in_mexico_city() -> None:
    async with running_cash(oxxo={"voucher_lifetime_seconds": None}) as cash:
        http, oxxo = adapter_on(httpx.ASGITransport(app=cash.app))
        async with http:
            voucher = await oxxo.create_voucher(order(expires_in_days=1))
            default = await oxxo.create_voucher(order("cash-order-o2"))
    zone = ZoneInfo("America/Mexico_City")
    today = datetime.now(UTC).astimezone(zone).date()
    assert voucher.expires_at.astimezone(zone).date() == today + timedelta(days=1)
    assert default.expires_at.astimezone(zone).date() == today + timedelta(days=3)
    assert default.expires_at.astimezone(zone).strftime("%H:%M:%S") == "23:59:59"


async def test_a_paid_voucher_reports_the_shops_time_and_the_fee(
    oxxo: OxxoVouchers, cash: CashSandbox
) -> None:
    assert await oxxo.find_voucher("cash-order-o1") is None
    await oxxo.create_voucher(order(magic="05"))
    await cash.oxxo.wait_for_state("cash-order-o1", "APPROVED")
    found = await oxxo.find_voucher("cash-order-o1")
    assert found is not None
    report = found.report
    view = await cash.oxxo.voucher("cash-order-o1")
    assert (report.outcome, report.event_id) == (
        TransferOutcome.SUCCEEDED,
        "status:cash-order-o1:succeeded",
    )
    assert report.occurred_at == parse_time(view["paid_at"])
    assert report.occurred_at < parse_time(view["confirmed_at"])
    assert (report.fee_reported, report.fee_minor) == ("54.00", 5_400)


async def test_expired_cancelled_and_late_paid_vouchers(
    oxxo: OxxoVouchers, cash: CashSandbox
) -> None:
    await oxxo.create_voucher(order("cash-order-x", "02"))
    await oxxo.create_voucher(order("cash-order-c"))
    await oxxo.create_voucher(order("cash-order-late", "04"))
    cancelled = await oxxo.cancel_voucher("cash-order-c")
    assert cancelled is not None
    assert (cancelled.outcome, cancelled.failure_code, cancelled.provider_status) == (
        TransferOutcome.FAILED,
        "cancelled",
        "canceled",
    )
    assert await oxxo.cancel_voucher("cash-order-none") is None
    await cash.oxxo.wait_for_state("cash-order-x", "EXPIRED")
    expired = await oxxo.find_voucher("cash-order-x")
    assert expired is not None
    assert (expired.report.failure_code, expired.report.provider_status) == (
        "expired",
        "requires_payment_method",
    )
    await cash.oxxo.wait_for_state("cash-order-late", "APPROVED")
    late = await oxxo.find_voucher("cash-order-late")
    assert late is not None and late.report.occurred_at is not None
    assert late.report.occurred_at > late.expires_at


async def test_a_paid_voucher_cannot_be_cancelled(oxxo: OxxoVouchers, cash: CashSandbox) -> None:
    await oxxo.create_voucher(order())
    assert (await cash.oxxo.pay("cash-order-o1")).status_code == 200
    with pytest.raises(Refused) as refused:
        await oxxo.cancel_voucher("cash-order-o1")
    assert refused.value.error is ProviderConflict


async def test_a_blocked_payer_is_refused_and_nothing_is_issued(oxxo: OxxoVouchers) -> None:
    with pytest.raises(Refused) as refused:
        await oxxo.create_voucher(order(magic="08"))
    assert refused.value.error is ProviderRejected
    assert "payer_blocked" in str(refused.value)
    assert await oxxo.find_voucher("cash-order-o1") is None


async def test_notifications_only_say_something_changed(
    oxxo: OxxoVouchers, cash: CashSandbox
) -> None:
    await oxxo.create_voucher(order(magic="01"))
    (request,) = [
        r
        for r in await _wait_for(cash, 1)
        if json.loads(r.content)["data"]["reference"] == "cash-order-o1"
    ]
    SPEC.signature.verify(OXXO_SECRET, request.headers, request.content, now=time.time())
    event = SPEC.translate(request.content)
    assert (event.outcome, event.reference, event.provider) == (
        TransferOutcome.CHANGED,
        "cash-order-o1",
        "oxxo",
    )
    assert event.event_id == request.headers["webhook-id"] and event.needs_confirmation
    assert event.amount_reported is None and event.provider_transaction_id is None


async def _wait_for(cash: CashSandbox, count: int) -> list[httpx.Request]:
    await wait_until(lambda: len(cash.oxxo.notifications()) >= count, 5.0, "notifications")
    return cash.oxxo.notifications()


@pytest.mark.parametrize(
    "body", [b"[]", b"{}", json.dumps({"id": "evt_1", "type": "x", "data": {}}).encode()]
)
def test_a_malformed_event_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedEvent):
        SPEC.translate(body)


def _scripted(
    handler: Callable[[httpx.Request], httpx.Response],
) -> tuple[httpx.AsyncClient, OxxoVouchers]:
    return adapter_on(httpx.MockTransport(handler))


def _raise(kind: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        raise kind("boom", request=request)

    return handle


@pytest.mark.parametrize(
    ("handler", "fault"),
    [
        (_raise(httpx.ReadTimeout), Ambiguous),
        (lambda _: httpx.Response(503), Ambiguous),
        (lambda _: httpx.Response(200, json={"id": "pi_1"}), Ambiguous),
        (lambda _: httpx.Response(429), Transient),
        (lambda _: httpx.Response(401), Refused),
        (lambda _: httpx.Response(400, json={"error": {"code": "amount_too_small"}}), Refused),
    ],
)
async def test_what_a_create_raises(
    handler: Callable[[httpx.Request], httpx.Response], fault: type[Exception]
) -> None:
    http, oxxo = _scripted(handler)
    async with http:
        with pytest.raises(fault):
            await oxxo.create_voucher(order())


async def test_every_create_carries_our_reference_as_its_idempotency_key() -> None:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    http, oxxo = _scripted(handle)
    async with http:
        for _ in range(2):
            with pytest.raises(Ambiguous):
                await oxxo.create_voucher(order(expires_in_days=2))
    assert {r.headers["Idempotency-Key"] for r in sent} == {"cash-order-o1"}
    body = json.loads(sent[0].content)
    assert body["metadata"] == {"reference": "cash-order-o1"}
    assert body["payment_method_options"] == {"oxxo": {"expires_after_days": 2}}
    assert (body["amount"], body["currency"]) == ("1500.00", "MXN")


@pytest.mark.parametrize(
    ("handler", "fault"),
    [
        (_raise(httpx.ConnectError), Transient),
        (lambda _: httpx.Response(500), Transient),
        (lambda _: httpx.Response(200, json={"data": "x"}), Transient),
    ],
)
async def test_what_a_status_query_raises(
    handler: Callable[[httpx.Request], httpx.Response], fault: type[Exception]
) -> None:
    http, oxxo = _scripted(handler)
    async with http:
        with pytest.raises(fault):
            await oxxo.find_voucher("cash-order-o1")
        # A cancel finds the voucher first: the same fault.
        with pytest.raises(fault):
            await oxxo.cancel_voucher("cash-order-o1")


async def test_a_lost_cancel_answer_is_ambiguous(cash: CashSandbox) -> None:
    asgi = httpx.ASGITransport(app=cash.app)

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/cancel"):
            await asgi.handle_async_request(request)  # it reaches OXXO...
            raise httpx.ReadTimeout("lost", request=request)  # ...the answer does not
        return await asgi.handle_async_request(request)

    http, oxxo = adapter_on(httpx.MockTransport(handle))
    async with http:
        await oxxo.create_voucher(order())
        with pytest.raises(Ambiguous):
            await oxxo.cancel_voucher("cash-order-o1")
        found = await oxxo.find_voucher("cash-order-o1")
    assert found is not None and found.report.failure_code == "cancelled"
