"""The generic payout activities over the hub adapter, against a fake hub (httpx.MockTransport).

The fake hub records every request, so the tests can assert the rule that matters most:
an ambiguous submission is resolved by a status query and never blindly resubmitted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.testing import ActivityEnvironment

from payments_engine.activities.payouts import PayoutActivities
from payments_engine.activities.providers.hub.adapter import HubPayouts
from payments_engine.domain.events import TransferOutcome
from payments_engine.domain.money import Money
from payments_engine.domain.payout import SubmitPayoutInput, SubmitPayoutResult, TransferStatusInput

REFERENCE = "payout-po-1"
PAYOUTS_URL = "http://hub/hub/v1/payouts"


def _transfer(reference: str, status: str, message: str | None = None) -> dict[str, Any]:
    return {
        "thirdPartyTransId": reference,
        "transactionId": f"HUB-{reference}",
        "status": status,
        "currency": "KES",
        "sendAmount": "1500.00",
        "receiveAmount": "1500.00",
        "fxRate": "1",
        "message": message,
        "createdAt": "2024-05-01T10:00:00Z",
        "updatedAt": "2024-05-01T10:00:05Z",
    }


@dataclass
class FakeHub:
    """A scripted wallet hub.

    Attributes:
        transfers: what ``GET /v1/payouts/{ref}`` finds, by reference.
        post_reply: the response to a POST; None accepts it (ack 100, stored as MR108).
        post_raises: raised by a POST after the hub has (or has not) stored the transfer.
        store_before_raise: whether a POST that raises stored the transfer first.
        get_reply: a status code forced on GET requests instead of the stored transfer.
        get_raises: raised by GET requests.
    """

    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    post_reply: httpx.Response | None = None
    post_raises: type[httpx.TransportError] | None = None
    store_before_raise: bool = True
    get_reply: int | None = None
    get_raises: type[httpx.TransportError] | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    @property
    def posts(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST"]

    @property
    def gets(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "GET"]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST" and request.url.path == "/hub/v1/payouts":
            return self._post(request)
        prefix = "/hub/v1/payouts/"
        if request.method == "GET" and request.url.path.startswith(prefix):
            if self.get_raises is not None:
                raise self.get_raises("status query failed", request=request)
            if self.get_reply is not None:
                return httpx.Response(self.get_reply, json={"error": "forced"})
            transfer = self.transfers.get(request.url.path.removeprefix(prefix))
            if transfer is None:
                return httpx.Response(404, json={"error": "not found"})
            return httpx.Response(200, json=transfer)
        return httpx.Response(418, json={"error": "unexpected request"})

    def _post(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        reference = body["thirdPartyTransId"]
        if self.post_raises is not None:
            if self.store_before_raise:
                self.transfers[reference] = _transfer(reference, "MR102")
            raise self.post_raises("hub did not answer", request=request)
        if self.post_reply is not None:
            return self.post_reply
        self.transfers[reference] = _transfer(reference, "MR108")
        return httpx.Response(
            200,
            json={
                "code": "100",
                "thirdPartyTransId": reference,
                "transactionId": f"HUB-{reference}",
                "status": "MR108",
                "message": "Accepted",
            },
        )


@pytest.fixture
def hub() -> FakeHub:
    return FakeHub()


@pytest.fixture
async def activities(hub: FakeHub) -> AsyncIterator[PayoutActivities]:
    transport = httpx.MockTransport(hub.handler)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub/hub") as http:
        yield PayoutActivities({"hub": HubPayouts(http)})


def _env(attempt: int = 1) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    return env


def _input(
    amount: int = 150000,
    currency: str = "KES",
    msisdn: str = "+254712345678",
    country: str = "KE",
    description: str | None = None,
) -> SubmitPayoutInput:
    return SubmitPayoutInput(
        reference=REFERENCE,
        msisdn=msisdn,
        country=country,
        amount=Money(amount=amount, currency=currency),
        description=description,
    )


async def _submit(
    activities: PayoutActivities, inp: SubmitPayoutInput | None = None, attempt: int = 1
) -> SubmitPayoutResult:
    return await _env(attempt).run(activities.submit_payout, inp or _input())


async def _submit_error(activities: PayoutActivities, attempt: int = 1) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await _submit(activities, attempt=attempt)
    return info.value


# --- the POST body ------------------------------------------------------------------


async def test_post_body_carries_reference_and_major_unit_amount(
    hub: FakeHub, activities: PayoutActivities
) -> None:
    await _submit(activities)
    assert len(hub.posts) == 1
    post = hub.posts[0]
    assert str(post.url) == PAYOUTS_URL
    assert json.loads(post.content) == {
        "thirdPartyTransId": REFERENCE,
        "msisdn": "+254712345678",
        "country": "KE",
        "currency": "KES",
        "amount": "1500.00",
    }
    assert hub.gets == []


async def test_post_body_amount_of_a_zero_decimal_currency(
    hub: FakeHub, activities: PayoutActivities
) -> None:
    inp = _input(amount=1500, currency="UGX", msisdn="+256772123456", country="UG")
    await _submit(activities, inp)
    body = json.loads(hub.posts[0].content)
    assert body["amount"] == "1500"
    assert (body["currency"], body["country"], body["msisdn"]) == ("UGX", "UG", "+256772123456")


async def test_post_body_carries_the_description_when_given(
    hub: FakeHub, activities: PayoutActivities
) -> None:
    await _submit(activities, _input(amount=5, description="May salary"))
    body = json.loads(hub.posts[0].content)
    assert body["description"] == "May salary"
    assert body["amount"] == "0.05"


# --- acknowledgements -----------------------------------------------------------------


async def test_ack_100_is_a_pending_report_queued(
    hub: FakeHub, activities: PayoutActivities
) -> None:
    result = await _submit(activities)
    report = result.report
    assert result.resolved_by_status_query is False
    assert report.outcome is TransferOutcome.PENDING
    assert report.provider_status == "MR108"
    assert report.reference == REFERENCE
    assert report.provider == "hub"
    assert report.provider_transaction_id == f"HUB-{REFERENCE}"
    assert report.failure_code is None


async def test_ack_100_without_status_is_queued(hub: FakeHub, activities: PayoutActivities) -> None:
    hub.post_reply = httpx.Response(200, json={"code": "100", "thirdPartyTransId": REFERENCE})
    report = (await _submit(activities)).report
    assert (report.outcome, report.provider_status) == (TransferOutcome.PENDING, "MR108")


async def test_ack_101_er101_is_a_failed_report_invalid_msisdn(
    hub: FakeHub, activities: PayoutActivities
) -> None:
    hub.post_reply = httpx.Response(
        200,
        json={
            "code": "101",
            "thirdPartyTransId": REFERENCE,
            "status": "ER101",
            "message": "Invalid MSISDN",
        },
    )
    result = await _submit(activities)
    report = result.report
    assert report.outcome is TransferOutcome.FAILED
    assert report.provider_status == "ER101"
    assert report.failure_code == "invalid_msisdn"
    assert report.message == "Invalid MSISDN"
    assert result.resolved_by_status_query is False
    assert len(hub.posts) == 1


async def test_ack_101_without_status_is_a_final_rejection(
    hub: FakeHub, activities: PayoutActivities
) -> None:
    hub.post_reply = httpx.Response(200, json={"code": "101", "thirdPartyTransId": REFERENCE})
    report = (await _submit(activities)).report
    assert report.outcome is TransferOutcome.FAILED
    assert report.failure_code == "rejected"


# --- ambiguous outcomes: ask, never resubmit ------------------------------------------


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.RemoteProtocolError])
async def test_timeout_is_resolved_by_status_query_without_resubmitting(
    hub: FakeHub, activities: PayoutActivities, error: type[httpx.TransportError]
) -> None:
    hub.post_raises = error
    result = await _submit(activities)
    assert result.resolved_by_status_query is True
    assert result.report.provider_status == "MR102"
    assert result.report.outcome is TransferOutcome.PENDING
    assert result.report.reference == REFERENCE
    assert len(hub.posts) == 1
    assert [str(r.url) for r in hub.gets] == [f"{PAYOUTS_URL}/{REFERENCE}"]


async def test_timeout_and_unknown_to_the_hub_is_retryable_after_one_post(
    hub: FakeHub, activities: PayoutActivities
) -> None:
    hub.post_raises = httpx.ReadTimeout
    hub.store_before_raise = False
    error = await _submit_error(activities)
    assert error.type == "ProviderUnavailable"
    assert error.non_retryable is False
    assert len(hub.posts) == 1
    assert len(hub.gets) == 1


async def test_timeout_and_failing_status_query_is_retryable_after_one_post(
    hub: FakeHub, activities: PayoutActivities
) -> None:
    hub.post_raises = httpx.ReadTimeout
    hub.get_raises = httpx.ConnectError
    error = await _submit_error(activities)
    assert error.type == "ProviderUnavailable"
    assert error.non_retryable is False
    assert len(hub.posts) == 1


@pytest.mark.parametrize("code", [500, 502, 503, 504])
async def test_5xx_after_send_is_decided_by_status_query(
    hub: FakeHub, activities: PayoutActivities, code: int
) -> None:
    hub.transfers[REFERENCE] = _transfer(REFERENCE, "MR101")
    hub.post_reply = httpx.Response(code, text="upstream error")
    result = await _submit(activities)
    assert result.resolved_by_status_query is True
    assert result.report.outcome is TransferOutcome.SUCCEEDED
    assert result.report.provider_status == "MR101"
    assert len(hub.posts) == 1
    assert len(hub.gets) == 1


@pytest.mark.parametrize("code", [500, 503])
async def test_5xx_unknown_to_the_hub_is_retryable(
    hub: FakeHub, activities: PayoutActivities, code: int
) -> None:
    hub.post_reply = httpx.Response(code, text="upstream error")
    error = await _submit_error(activities)
    assert error.type == "ProviderUnavailable"
    assert error.non_retryable is False
    assert len(hub.posts) == 1
    assert len(hub.gets) == 1


# --- final refusals and throttling ----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error_type", "non_retryable"),
    [
        (409, "ProviderConflict", True),
        (401, "ProviderAuthError", True),
        (403, "ProviderAuthError", True),
        (422, "ProviderRejected", True),
        (400, "ProviderRejected", True),
        (429, "ProviderUnavailable", False),
        (408, "ProviderUnavailable", False),
    ],
)
async def test_4xx_maps_to_typed_application_errors(
    hub: FakeHub,
    activities: PayoutActivities,
    code: int,
    error_type: str,
    non_retryable: bool,
) -> None:
    hub.post_reply = httpx.Response(code, json={"error": "no"})
    error = await _submit_error(activities)
    assert error.type == error_type
    assert error.non_retryable is non_retryable
    # Refused or retried, each is expected: logged in one line, never with a traceback.
    assert error.category is ApplicationErrorCategory.BENIGN
    assert len(hub.posts) == 1
    # A 4xx is an answer, not an ambiguity: no status query on the first attempt.
    assert hub.gets == []


# --- retried attempts start with a status query ---------------------------------------


async def test_retry_with_known_transfer_returns_its_status_without_posting(
    hub: FakeHub, activities: PayoutActivities
) -> None:
    hub.transfers[REFERENCE] = _transfer(REFERENCE, "ER103", message="Wallet closed")
    result = await _submit(activities, attempt=2)
    assert hub.posts == []
    assert len(hub.gets) == 1
    assert result.resolved_by_status_query is True
    assert result.report.outcome is TransferOutcome.FAILED
    assert result.report.failure_code == "wallet_closed"


async def test_retry_with_unknown_transfer_posts(
    hub: FakeHub, activities: PayoutActivities
) -> None:
    result = await _submit(activities, attempt=3)
    assert [r.method for r in hub.requests] == ["GET", "POST"]
    assert result.resolved_by_status_query is False
    assert result.report.provider_status == "MR108"


async def test_retry_with_failing_status_query_does_not_post(
    hub: FakeHub, activities: PayoutActivities
) -> None:
    hub.get_reply = 503
    error = await _submit_error(activities, attempt=2)
    assert error.type == "ProviderUnavailable"
    assert error.non_retryable is False
    assert hub.posts == []


async def test_first_attempt_does_not_query_first(
    hub: FakeHub, activities: PayoutActivities
) -> None:
    hub.transfers[REFERENCE] = _transfer(REFERENCE, "MR101")
    await _submit(activities, attempt=1)
    assert [r.method for r in hub.requests] == ["POST"]


# --- get_payout_status ----------------------------------------------------------------


async def _status(activities: PayoutActivities, reference: str = REFERENCE) -> Any:
    return await _env().run(activities.get_payout_status, TransferStatusInput(reference=reference))


@pytest.mark.parametrize(
    ("status", "outcome", "failure_code"),
    [
        ("MR101", TransferOutcome.SUCCEEDED, None),
        ("ER103", TransferOutcome.FAILED, "wallet_closed"),
        ("ER102", TransferOutcome.FAILED, "provider_insufficient_funds"),
        ("MR102", TransferOutcome.PENDING, None),
        ("MR108", TransferOutcome.PENDING, None),
    ],
)
async def test_status_200_is_read_from_the_status_code(
    hub: FakeHub,
    activities: PayoutActivities,
    status: str,
    outcome: TransferOutcome,
    failure_code: str | None,
) -> None:
    hub.transfers[REFERENCE] = _transfer(REFERENCE, status)
    report = (await _status(activities)).report
    assert report is not None
    assert report.outcome is outcome
    assert report.failure_code == failure_code
    assert report.provider_status == status
    assert report.reference == REFERENCE
    assert report.provider_transaction_id == f"HUB-{REFERENCE}"
    assert report.event_id == f"status:HUB-{REFERENCE}:{status}"
    assert report.occurred_at is not None and report.occurred_at.second == 5
    assert [str(r.url) for r in hub.requests] == [f"{PAYOUTS_URL}/{REFERENCE}"]


async def test_status_404_is_no_report(hub: FakeHub, activities: PayoutActivities) -> None:
    assert (await _status(activities)).report is None


@pytest.mark.parametrize("code", [500, 502, 503])
async def test_status_5xx_is_retryable(
    hub: FakeHub, activities: PayoutActivities, code: int
) -> None:
    hub.get_reply = code
    with pytest.raises(ApplicationError) as info:
        await _status(activities)
    assert info.value.type == "ProviderUnavailable"
    assert info.value.non_retryable is False


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadTimeout])
async def test_status_connection_error_is_retryable(
    hub: FakeHub, activities: PayoutActivities, error: type[httpx.TransportError]
) -> None:
    hub.get_raises = error
    with pytest.raises(ApplicationError) as info:
        await _status(activities)
    assert info.value.type == "ProviderUnavailable"
    assert info.value.non_retryable is False


async def test_status_401_is_an_auth_error(hub: FakeHub, activities: PayoutActivities) -> None:
    hub.get_reply = 401
    with pytest.raises(ApplicationError) as info:
        await _status(activities)
    assert info.value.type == "ProviderAuthError"
    assert info.value.non_retryable is True


async def test_expected_retry_is_one_warning_line_and_benign(
    hub: FakeHub, activities: PayoutActivities, caplog: pytest.LogCaptureFixture
) -> None:
    hub.post_raises = httpx.ReadTimeout
    hub.store_before_raise = False
    with caplog.at_level(logging.DEBUG):
        error = await _submit_error(activities)
    # BENIGN: the SDK does not log the expected failure again with a traceback.
    assert error.category is ApplicationErrorCategory.BENIGN
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "will be retried" in warnings[0].getMessage()
    assert warnings[0].exc_info is None


async def test_refusal_is_one_line_naming_no_request_data(
    hub: FakeHub, activities: PayoutActivities, caplog: pytest.LogCaptureFixture
) -> None:
    hub.post_reply = httpx.Response(422, json={"error": "bad msisdn 254700000001"})
    with caplog.at_level(logging.DEBUG):
        error = await _submit_error(activities)
    assert error.type == "ProviderRejected"
    lines = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert lines[0].exc_info is None
    assert "254700000001" not in caplog.text


async def test_status_answer_carries_the_reported_amount(
    hub: FakeHub, activities: PayoutActivities
) -> None:
    hub.transfers[REFERENCE] = _transfer(REFERENCE, "MR101")
    result = await ActivityEnvironment().run(
        activities.get_payout_status, TransferStatusInput(reference=REFERENCE)
    )
    assert result.report is not None
    assert (result.report.currency, result.report.amount_minor) == ("KES", 150000)
    assert result.report.amount_reported == "1500.00"
