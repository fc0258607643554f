"""Refunds by bank transfer: the bank adapter against the sandbox's bank, and scripted faults.

The adapter runs against the real sandbox app (its bank simulator, over ASGI) for what
the bank does with each magic account, and against scripted answers
(httpx.MockTransport) for the faults a live bank can produce: timeouts, resets, 5xx.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from payments_engine.activities.providers import bank as bank_provider
from payments_engine.activities.providers.bank.adapter import (
    NO_DESTINATION,
    BankRefunds,
    auth_headers,
)
from payments_engine.activities.providers.bank.settings import BankSettings
from payments_engine.activities.providers.bank.webhooks import translate
from payments_engine.activities.providers.base import (
    Ambiguous,
    MalformedEvent,
    ProviderNotSupported,
    Refused,
    Transient,
)
from payments_engine.activities.providers.registry import (
    PROVIDERS,
    collection_spec,
    payout_spec,
    refund_spec,
)
from payments_engine.activities.refunds import RefundActivities
from payments_engine.domain.bank import AccountType, BankAccount, DocumentType
from payments_engine.domain.errors import ProviderAuthError, ProviderConflict, ProviderRejected
from payments_engine.domain.events import TransferOutcome
from payments_engine.domain.money import Money
from payments_engine.domain.payout import TransferStatusInput
from payments_engine.domain.refund import SubmitRefundInput
from payments_engine.domain.webhooks import STANDARD_WEBHOOKS
from tests.sandbox.bank.support import BANK_API_KEY, BANK_SECRET, Bank, running_bank
from tests.sandbox.support import SANDBOX_URL, wait_until

REFERENCE = "refund-rf-1"
AMOUNT = Money(amount=15_000_000, currency="COP")  # 150000.00 COP
SETTINGS = BankSettings(api_key=SecretStr(BANK_API_KEY), webhook_secret=SecretStr(BANK_SECRET))
PATIENCE = 5.0


def account(number: str = "0012345601", **fields: object) -> BankAccount:
    """The payer's account in Colombia; the last two digits are the bank's magic."""
    values: dict[str, object] = {
        "bank_code": "007",
        "account_type": AccountType.SAVINGS,
        "account_number": number,
        "document_type": DocumentType.CC,
        "document_number": "1020304050",
        "holder_name": "María Gómez",
        "country": "CO",
        **fields,
    }
    return BankAccount.model_validate(values)


def order(
    number: str = "0012345601",
    *,
    reference: str = REFERENCE,
    amount: Money = AMOUNT,
    destination: BankAccount | None = None,
    no_account: bool = False,
) -> SubmitRefundInput:
    """A refund of a cash order by bank transfer to ``destination`` or the account ``number``."""
    return SubmitRefundInput(
        reference=reference,
        provider="bank",
        original_reference="cash-order-co-1",
        amount=amount,
        reason="order cancelled by the merchant",
        destination=None if no_account else destination or account(number),
    )


@asynccontextmanager
async def adapter_on(bank: Bank) -> AsyncIterator[BankRefunds]:
    """The bank adapter on a client calling the sandbox app's bank, as the worker builds it."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=bank.app),
        base_url=f"{SANDBOX_URL}{bank_provider.SPEC.sandbox_path}",
        headers=auth_headers(SETTINGS),
    ) as http:
        yield BankRefunds(http, SETTINGS)


@pytest.fixture
async def sandbox_bank() -> AsyncIterator[Bank]:
    """The sandbox's bank: a 0.3 s settlement, a receiver taking every webhook."""
    async with running_bank() as bank:
        yield bank


@pytest.fixture
async def refunds(sandbox_bank: Bank) -> AsyncIterator[BankRefunds]:
    """The adapter on the sandbox's bank."""
    async with adapter_on(sandbox_bank) as adapter:
        yield adapter


async def settled(refunds: BankRefunds, reference: str, outcome: TransferOutcome) -> None:
    """Wait until the status API reports ``outcome`` for ``reference``."""

    async def reached() -> bool:
        report = await refunds.find_refund(reference)
        return report is not None and report.outcome is outcome

    await wait_until(reached, PATIENCE, f"{reference} {outcome}")


# -- against the sandbox's bank -----------------------------------------------------------


async def test_a_refund_is_a_bank_transfer_that_settles(refunds: BankRefunds) -> None:
    report = await refunds.send_refund(order())

    assert (report.provider, report.reference) == ("bank", REFERENCE)
    assert (report.outcome, report.provider_status) == (TransferOutcome.PENDING, "ACCEPTED")
    assert report.provider_transaction_id is not None
    assert report.provider_transaction_id.startswith("trf_")
    assert (report.currency, report.amount_reported, report.amount_minor) == (
        "COP",
        "150000.00",
        15_000_000,
    )
    assert report.mismatch(REFERENCE, AMOUNT) is None
    assert report.event_id == f"ack:{REFERENCE}:ACCEPTED"

    await settled(refunds, REFERENCE, TransferOutcome.SUCCEEDED)
    final = await refunds.find_refund(REFERENCE)
    assert final is not None
    assert (final.provider_status, final.failure_code) == ("SETTLED", None)
    assert final.provider_transaction_id == report.provider_transaction_id
    assert final.event_id == f"status:{report.provider_transaction_id}:SETTLED"
    assert final.mismatch(REFERENCE, AMOUNT) is None and final.occurred_at is not None


async def test_a_mexican_refund_goes_by_spei(refunds: BankRefunds) -> None:
    clabe = BankAccount(
        bank_code="012",
        account_type=AccountType.CHECKING,
        account_number="012180001234567891",
        document_type=DocumentType.CURP,
        document_number="GOMA800101HDFRRL09",
        holder_name="Ana Gómez",
        country="MX",
    )
    amount = Money(amount=250_050, currency="MXN")
    report = await refunds.send_refund(order(amount=amount, destination=clabe))
    assert (report.currency, report.amount_minor) == ("MXN", 250_050)
    assert report.mismatch(REFERENCE, amount) is None


@pytest.mark.parametrize(
    ("number", "code", "return_code"),
    [("0012345609", "account_closed", "R03"), ("0012345605", "document_mismatch", "R04")],
)
async def test_a_returned_transfer_is_a_failed_refund_with_the_banks_reason(
    refunds: BankRefunds, number: str, code: str, return_code: str
) -> None:
    report = await refunds.send_refund(order(number))
    assert report.outcome is TransferOutcome.PENDING

    await settled(refunds, REFERENCE, TransferOutcome.FAILED)
    final = await refunds.find_refund(REFERENCE)
    assert final is not None
    assert (final.provider_status, final.failure_code) == ("RETURNED", code)
    assert final.message is not None and final.message.startswith(f"{return_code}: ")
    assert final.mismatch(REFERENCE, AMOUNT) is None


async def test_a_slow_transfer_stays_pending_then_settles() -> None:
    async with running_bank(settlement_delay_seconds=60.0) as bank, adapter_on(bank) as refunds:
        clock = bank.shift_clock()
        await refunds.send_refund(order("0012345607"))
        clock.offset = 120
        pending = await refunds.find_refund(REFERENCE)
        assert pending is not None and pending.outcome is TransferOutcome.PENDING
        clock.offset = 181
        done = await refunds.find_refund(REFERENCE)
        assert done is not None and done.outcome is TransferOutcome.SUCCEEDED


async def test_a_lost_webhook_is_found_by_the_status_api(
    sandbox_bank: Bank, refunds: BankRefunds
) -> None:
    await refunds.send_refund(order("0012345606"))
    await settled(refunds, REFERENCE, TransferOutcome.SUCCEEDED)
    assert sandbox_bank.receiver.requests == []


async def test_an_invalid_account_is_a_final_refusal(refunds: BankRefunds) -> None:
    with pytest.raises(Refused) as refused:
        await refunds.send_refund(order("0012345608"))
    assert refused.value.error is ProviderRejected
    assert "invalid_account" in str(refused.value)
    assert "0012345608" not in str(refused.value)
    assert await refunds.find_refund(REFERENCE) is None


async def test_a_refund_without_the_payers_account_is_refused_before_any_call() -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    async with scripted(record) as refunds:
        with pytest.raises(Refused) as refused:
            await refunds.send_refund(order(no_account=True))
    assert refused.value.error is ProviderRejected
    assert str(refused.value) == NO_DESTINATION
    assert sent == []


async def test_a_resubmission_answers_the_same_transfer(
    sandbox_bank: Bank, refunds: BankRefunds
) -> None:
    first = await refunds.send_refund(order())
    again = await refunds.send_refund(order())

    assert again.provider_transaction_id == first.provider_transaction_id
    (transfer,) = await sandbox_bank.transfers()
    assert transfer["submit_count"] == 2
    # Paid once.
    assert await sandbox_bank.cop_float() == 10**12 - AMOUNT.amount


async def test_our_reference_with_another_body_is_a_conflict(refunds: BankRefunds) -> None:
    await refunds.send_refund(order())
    with pytest.raises(Refused) as refused:
        await refunds.send_refund(order(amount=Money(amount=100, currency="COP")))
    assert refused.value.error is ProviderConflict


async def test_an_unknown_reference_is_none(refunds: BankRefunds) -> None:
    assert await refunds.find_refund("refund-never-sent") is None


async def test_the_sandbox_webhooks_are_the_engines_events(sandbox_bank: Bank) -> None:
    async with adapter_on(sandbox_bank) as refunds:
        await refunds.send_refund(order(reference="refund-ok"))
        await refunds.send_refund(order("0012345609", reference="refund-closed"))
    await sandbox_bank.wait_for_webhooks(2)

    events = {}
    for request in sandbox_bank.receiver.accepted:
        # The relay verifies with the provider's scheme and the engine's secret.
        bank_provider.SPEC.signature.verify(
            BANK_SECRET, request.headers, request.content, now=time.time()
        )
        event = bank_provider.SPEC.translate(request.content)
        events[event.reference] = (event, json.loads(request.content))

    ok, ok_body = events["refund-ok"]
    assert (ok.outcome, ok.provider_status) == (TransferOutcome.SUCCEEDED, "SETTLED")
    assert ok.needs_confirmation is True
    assert ok.event_id == ok_body["event_id"]
    assert ok.provider_transaction_id == ok_body["id"]
    assert ok.mismatch("refund-ok", AMOUNT) is None
    closed, _ = events["refund-closed"]
    assert (closed.outcome, closed.failure_code) == (TransferOutcome.FAILED, "account_closed")
    assert closed.message is not None and closed.message.startswith("R03")
    assert closed.needs_confirmation is True


# -- the refund activities over the sandbox's bank ------------------------------------------


def env(attempt: int = 1) -> ActivityEnvironment:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, attempt=attempt)
    return environment


async def test_a_lost_answer_is_resolved_by_a_status_query_never_a_second_transfer(
    sandbox_bank: Bank, refunds: BankRefunds
) -> None:
    sandbox_bank.state.store.faults.error_after_execute_rate = 1.0
    activities = RefundActivities({"bank": refunds})

    result = await env().run(activities.submit_refund, order())

    assert result.resolved_by_status_query is True
    assert result.report.outcome is TransferOutcome.PENDING
    assert result.report.provider_transaction_id is not None
    (transfer,) = await sandbox_bank.transfers()
    assert transfer["submit_count"] == 1

    sandbox_bank.state.store.faults.error_after_execute_rate = 0.0
    status = await env().run(
        activities.get_refund_status, TransferStatusInput(reference=REFERENCE, provider="bank")
    )
    assert status.report is not None and status.report.reference == REFERENCE


async def test_a_retried_attempt_finds_the_transfer_first(
    sandbox_bank: Bank, refunds: BankRefunds
) -> None:
    await refunds.send_refund(order())
    activities = RefundActivities({"bank": refunds})
    result = await env(attempt=2).run(activities.submit_refund, order())
    assert result.resolved_by_status_query is True
    (transfer,) = await sandbox_bank.transfers()
    assert transfer["submit_count"] == 1


# -- scripted answers ----------------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


@asynccontextmanager
async def scripted(handler: Handler) -> AsyncIterator[BankRefunds]:
    """The adapter on a client answered by ``handler``."""
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(handler),
        base_url="http://bank.test",
        headers=auth_headers(SETTINGS),
    ) as http:
        yield BankRefunds(http)


def _transfer(status: str = "ACCEPTED", **fields: object) -> dict[str, object]:
    return {
        "id": "trf_1",
        "external_id": REFERENCE,
        "status": status,
        "amount": "150000.00",
        "currency": "COP",
        "beneficiary": {"bank_code": "007", "account_type": "savings", "account_last4": "5601"},
        "return_code": None,
        "return_reason": None,
        "return_message": None,
        "created_at": "2026-11-24T10:00:00Z",
        "updated_at": "2026-11-24T10:00:00Z",
        **fields,
    }


async def test_the_request_follows_the_banks_contract() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(201, json=_transfer())

    async with scripted(answer) as refunds:
        await refunds.send_refund(order())

    (request,) = sent
    assert (request.method, request.url.path) == ("POST", "/v1/transfers")
    assert request.headers["Authorization"] == f"Bearer {BANK_API_KEY}"
    assert json.loads(request.content) == {
        "external_id": REFERENCE,
        "amount": "150000.00",
        "currency": "COP",
        "beneficiary": {
            "bank_code": "007",
            "account_type": "savings",
            "account_number": "0012345601",
            "document_type": "CC",
            "document_number": "1020304050",
            "holder_name": "María Gómez",
            "country": "CO",
        },
        "description": "order cancelled by the merchant",
    }


async def test_a_status_query_asks_by_our_reference_escaped() -> None:
    paths: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json=_transfer("SETTLED", external_id="refund-a/b"))

    async with scripted(answer) as refunds:
        report = await refunds.find_refund("refund-a/b")
    assert paths == ["/v1/transfers/refund-a%2Fb"]
    assert report is not None and report.outcome is TransferOutcome.SUCCEEDED


@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout, httpx.ConnectError, httpx.RemoteProtocolError]
)
async def test_a_submission_without_an_answer_is_ambiguous(error: type[Exception]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise error("lost", request=request)  # type: ignore[call-arg]

    async with scripted(answer) as refunds:
        with pytest.raises(Ambiguous):
            await refunds.send_refund(order())


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_5xx_on_submission_is_ambiguous(status: int) -> None:
    async with scripted(lambda r: httpx.Response(status)) as refunds:
        with pytest.raises(Ambiguous):
            await refunds.send_refund(order())


@pytest.mark.parametrize(
    "answer",
    [
        lambda r: httpx.Response(503),
        lambda r: httpx.Response(429),
    ],
)
async def test_a_status_query_that_fails_is_transient(answer: Handler) -> None:
    async with scripted(answer) as refunds:
        with pytest.raises(Transient):
            await refunds.find_refund(REFERENCE)


async def test_a_status_query_timeout_is_transient() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with scripted(answer) as refunds:
        with pytest.raises(Transient):
            await refunds.find_refund(REFERENCE)


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (401, {"code": "unauthorized"}, ProviderAuthError, "credentials"),
        (400, {"code": "insufficient_funds"}, ProviderRejected, "insufficient_funds"),
        (422, {"code": "invalid_request"}, ProviderRejected, "invalid_request"),
        (409, {"code": "idempotency_conflict"}, ProviderConflict, "another body"),
    ],
)
async def test_refusals_are_final(
    status: int, body: dict[str, str], error: type[Exception], text: str
) -> None:
    async with scripted(lambda r: httpx.Response(status, json=body)) as refunds:
        with pytest.raises(Refused) as refused:
            await refunds.send_refund(order())
    assert refused.value.error is error
    assert text in str(refused.value)


async def test_a_timed_out_activity_submission_is_retried_only_when_the_bank_has_nothing() -> None:
    gets = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal gets
        if request.method == "POST":
            raise httpx.ReadTimeout("lost", request=request)
        gets += 1
        return httpx.Response(404, json={"code": "not_found"})

    async with scripted(answer) as refunds:
        activities = RefundActivities({"bank": refunds})
        with pytest.raises(ApplicationError) as failed:
            await env().run(activities.submit_refund, order())
    assert failed.value.non_retryable is False
    assert gets == 1


# -- webhooks, registry, settings ------------------------------------------------------------


def _webhook(**fields: object) -> bytes:
    body: dict[str, object] = {
        "event_id": "evt_1",
        "type": "transfer.returned",
        "created_at": "2026-11-25T10:00:00Z",
        "id": "trf_1",
        "external_id": REFERENCE,
        "status": "RETURNED",
        "amount": "150000.00",
        "currency": "COP",
        "return_code": "R03",
        "return_reason": "account_closed",
        "return_message": "the beneficiary's account is closed",
        **fields,
    }
    return json.dumps(body).encode()


def test_a_returned_webhook_is_a_failed_event() -> None:
    event = translate(_webhook())
    assert (event.provider, event.event_id, event.reference) == ("bank", "evt_1", REFERENCE)
    assert (event.outcome, event.failure_code) == (TransferOutcome.FAILED, "account_closed")
    assert event.message == "R03: the beneficiary's account is closed"
    assert (event.amount_minor, event.currency, event.needs_confirmation) == (
        15_000_000,
        "COP",
        True,
    )
    assert event.occurred_at is not None


def test_a_returned_webhook_without_a_reason_still_fails() -> None:
    event = translate(_webhook(return_reason=None, return_message=None))
    assert (event.failure_code, event.message) == ("returned", "R03")


def test_an_amount_the_currency_cannot_hold_is_unreadable() -> None:
    event = translate(_webhook(amount="150000.001"))
    assert event.amount_minor is None
    assert event.mismatch(REFERENCE, AMOUNT) is not None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        _webhook(type="transfer.created"),
        _webhook(status="PENDING"),
        json.dumps({"event_id": "evt_1", "type": "transfer.settled"}).encode(),
    ],
)
def test_a_malformed_webhook_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedEvent) as refused:
        translate(body)
    assert "invalid bank webhook" in str(refused.value)


def test_the_bank_is_registered_for_refunds_only() -> None:
    spec = refund_spec("bank")
    assert spec is PROVIDERS["bank"] is bank_provider.SPEC
    assert spec.refunds is BankRefunds
    assert spec.signature is STANDARD_WEBHOOKS
    assert spec.sandbox_path == "/bank"
    with pytest.raises(ProviderNotSupported):
        payout_spec("bank")
    with pytest.raises(ProviderNotSupported):
        collection_spec("bank")


def test_settings_come_from_payments_bank_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTS_BANK_API_KEY", "key-1")
    monkeypatch.setenv("PAYMENTS_BANK_BASE_URL", "https://bank.example/api")
    monkeypatch.setenv("PAYMENTS_BANK_TIMEOUT_SECONDS", "7")
    settings = BankSettings()
    assert settings.configured
    assert (settings.base_url, settings.timeout_seconds) == ("https://bank.example/api", 7)
    assert auth_headers(settings) == {"Authorization": "Bearer key-1"}


async def test_the_adapter_reports_every_status_the_bank_has(refunds: BankRefunds) -> None:
    # Several refunds at once, each by its own reference: no crosstalk.
    references = [f"refund-{n}" for n in range(3)]
    await asyncio.gather(*(refunds.send_refund(order(reference=r)) for r in references))
    for reference in references:
        report = await refunds.find_refund(reference)
        assert report is not None and report.reference == reference
