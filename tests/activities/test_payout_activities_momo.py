"""The generic payout activities over the MoMo adapter, against a fake MoMo (MockTransport).

The same exactly-once rules as the hub's, through MoMo's own dialect: a UUID
``X-Reference-Id`` derived from our reference, 202 without a body, 409 on a repeat.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from payments_engine.activities.payouts import PayoutActivities
from payments_engine.activities.providers.base import MalformedEvent
from payments_engine.activities.providers.momo.adapter import (
    MomoPayouts,
    auth_headers,
    reference_id,
)
from payments_engine.activities.providers.momo.settings import MomoSettings
from payments_engine.activities.providers.momo.webhooks import translate
from payments_engine.domain.events import TransferOutcome
from payments_engine.domain.money import Money
from payments_engine.domain.payout import SubmitPayoutInput, TransferStatusInput

REFERENCE = "payout-po-7"
PATH = "/momo/disbursement/v1_0/transfer"
KEY = "sub-key-1"
PHONE = "+256772123456"


def _transfer(status: str, reason: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": "1500.00",
        "currency": "KES",
        "externalId": REFERENCE,
        "financialTransactionId": "FT-1",
        "payee": {"partyIdType": "MSISDN", "partyId": PHONE.lstrip("+")},
        "payerMessage": "",
        "payeeNote": "",
        "status": status,
    }
    if reason is not None:
        body["reason"] = reason
    body.update(extra)
    return body


@dataclass
class FakeMomo:
    """A scripted MoMo: ``transfers`` by X-Reference-Id; replies forced per method."""

    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    post_reply: httpx.Response | None = None
    post_raises: type[httpx.TransportError] | None = None
    store_before_raise: bool = True
    get_reply: int | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    @property
    def posts(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST"]

    @property
    def gets(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "GET"]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST" and request.url.path == PATH:
            ref = request.headers["X-Reference-Id"]
            if self.post_raises is not None:
                if self.store_before_raise:
                    self.transfers[ref] = _transfer("PENDING")
                raise self.post_raises("boom", request=request)
            if self.post_reply is not None:
                if self.post_reply.status_code >= 500:
                    self.transfers[ref] = _transfer("SUCCESSFUL")
                return self.post_reply
            if ref in self.transfers:
                return httpx.Response(409, json={"code": "RESOURCE_ALREADY_EXIST"})
            self.transfers[ref] = _transfer("PENDING")
            return httpx.Response(202)
        if request.method == "GET" and request.url.path.startswith(PATH + "/"):
            if self.get_reply is not None:
                return httpx.Response(self.get_reply)
            found = self.transfers.get(request.url.path.rsplit("/", 1)[1])
            if found is None:
                return httpx.Response(404, json={"code": "RESOURCE_NOT_FOUND"})
            return httpx.Response(200, json=found)
        return httpx.Response(404)


@pytest.fixture
def momo() -> FakeMomo:
    return FakeMomo()


@pytest.fixture
async def activities(momo: FakeMomo) -> AsyncIterator[PayoutActivities]:
    settings = MomoSettings(api_key=SecretStr(KEY), target_environment="mtnuganda")
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(momo.handler),
        base_url="http://sandbox/momo",
        headers=auth_headers(settings),
    ) as http:
        yield PayoutActivities({"momo": MomoPayouts(http, settings)})


def _input() -> SubmitPayoutInput:
    return SubmitPayoutInput(
        reference=REFERENCE,
        provider="momo",
        msisdn=PHONE,
        country="UG",
        amount=Money.from_major("1500.00", "KES"),
        description="order 7",
    )


def _env(attempt: int = 1) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt, workflow_id=REFERENCE)
    return env


async def _error(activities: PayoutActivities, attempt: int = 1) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await _env(attempt).run(activities.submit_payout, _input())
    return caught.value


def test_reference_id_is_a_stable_uuid_per_reference() -> None:
    first = reference_id(REFERENCE)
    assert uuid.UUID(first).version == 5
    assert reference_id(REFERENCE) == first
    assert reference_id("payout-po-8") != first


async def test_post_speaks_momo_and_202_is_pending(
    momo: FakeMomo, activities: PayoutActivities
) -> None:
    result = await _env().run(activities.submit_payout, _input())

    [post] = momo.posts
    assert post.headers["X-Reference-Id"] == reference_id(REFERENCE)
    assert post.headers["Ocp-Apim-Subscription-Key"] == KEY
    assert post.headers["X-Target-Environment"] == "mtnuganda"
    body = json.loads(post.content)
    assert body["externalId"] == REFERENCE
    assert body["amount"] == "1500.00" and body["currency"] == "KES"
    assert body["payee"] == {"partyIdType": "MSISDN", "partyId": "256772123456"}
    assert result.report.outcome is TransferOutcome.PENDING
    assert result.report.provider_status == "PENDING"
    assert not result.resolved_by_status_query
    assert momo.gets == []


async def test_409_duplicate_is_resolved_by_status_query(
    momo: FakeMomo, activities: PayoutActivities
) -> None:
    momo.transfers[reference_id(REFERENCE)] = _transfer("SUCCESSFUL")

    result = await _env().run(activities.submit_payout, _input())

    assert len(momo.posts) == 1 and len(momo.gets) == 1
    assert result.resolved_by_status_query
    assert result.report.outcome is TransferOutcome.SUCCEEDED
    assert result.report.amount_minor == 1500_00


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.RemoteProtocolError])
async def test_lost_answer_is_resolved_by_status_query_without_resubmitting(
    momo: FakeMomo, activities: PayoutActivities, error: type[httpx.TransportError]
) -> None:
    momo.post_raises = error

    result = await _env().run(activities.submit_payout, _input())

    assert len(momo.posts) == 1
    assert [r.url.path for r in momo.gets] == [f"{PATH}/{reference_id(REFERENCE)}"]
    assert result.resolved_by_status_query
    assert result.report.outcome is TransferOutcome.PENDING


async def test_lost_request_unknown_to_momo_is_retryable_after_one_post(
    momo: FakeMomo, activities: PayoutActivities
) -> None:
    momo.post_raises = httpx.ConnectTimeout
    momo.store_before_raise = False

    error = await _error(activities)

    assert not error.non_retryable and error.type == "ProviderUnavailable"
    assert len(momo.posts) == 1 and len(momo.gets) == 1


async def test_5xx_after_execution_is_decided_by_status_query(
    momo: FakeMomo, activities: PayoutActivities
) -> None:
    momo.post_reply = httpx.Response(500, json={"code": "INTERNAL_PROCESSING_ERROR"})

    result = await _env().run(activities.submit_payout, _input())

    assert result.resolved_by_status_query
    assert result.report.outcome is TransferOutcome.SUCCEEDED


async def test_retried_attempt_asks_first_and_does_not_post_a_known_transfer(
    momo: FakeMomo, activities: PayoutActivities
) -> None:
    momo.transfers[reference_id(REFERENCE)] = _transfer("PENDING")

    result = await _env(attempt=2).run(activities.submit_payout, _input())

    assert momo.posts == [] and len(momo.gets) == 1
    assert result.resolved_by_status_query


@pytest.mark.parametrize(
    ("status", "error_type"), [(401, "ProviderAuthError"), (400, "ProviderRejected")]
)
async def test_refusals_are_final(
    momo: FakeMomo, activities: PayoutActivities, status: int, error_type: str
) -> None:
    momo.post_reply = httpx.Response(status, json={"code": "X"})

    error = await _error(activities)

    assert error.non_retryable and error.type == error_type
    assert len(momo.posts) == 1 and momo.gets == []


@pytest.mark.parametrize(
    ("reason", "failure_code"),
    [
        ("PAYEE_NOT_FOUND", "invalid_msisdn"),
        ("NOT_ENOUGH_FUNDS", "provider_insufficient_funds"),
        ("PAYER_LIMIT_REACHED", "daily_limit_exceeded"),
        ("EXPIRED", "expired"),
        ("SOMETHING_NEW", "provider_failed"),
    ],
)
async def test_failed_status_reasons_map_to_our_failure_codes(
    momo: FakeMomo, activities: PayoutActivities, reason: str, failure_code: str
) -> None:
    momo.transfers[reference_id(REFERENCE)] = _transfer("FAILED", reason)

    result = await _env().run(
        activities.get_payout_status, TransferStatusInput(reference=REFERENCE, provider="momo")
    )

    assert result.report is not None
    assert result.report.outcome is TransferOutcome.FAILED
    assert (result.report.provider_status, result.report.failure_code) == ("FAILED", failure_code)


async def test_status_of_an_unknown_transfer_is_none(activities: PayoutActivities) -> None:
    result = await _env().run(
        activities.get_payout_status, TransferStatusInput(reference=REFERENCE, provider="momo")
    )
    assert result.report is None


async def test_status_api_errors_are_retryable(
    momo: FakeMomo, activities: PayoutActivities
) -> None:
    momo.get_reply = 503
    with pytest.raises(ApplicationError) as caught:
        await _env().run(
            activities.get_payout_status,
            TransferStatusInput(reference=REFERENCE, provider="momo"),
        )
    assert not caught.value.non_retryable


async def test_a_provider_the_worker_lacks_fails_the_payout_for_good(
    activities: PayoutActivities,
) -> None:
    inp = _input().model_copy(update={"provider": "hub"})
    with pytest.raises(ApplicationError) as caught:
        await _env().run(activities.submit_payout, inp)
    assert caught.value.non_retryable and caught.value.type == "ProviderNotConfigured"


def test_callback_translates_with_our_reference_and_reported_amount() -> None:
    event = translate(json.dumps(_transfer("SUCCESSFUL")).encode())

    assert event.provider == "momo" and event.reference == REFERENCE
    assert event.outcome is TransferOutcome.SUCCEEDED
    assert event.event_id == f"callback:{REFERENCE}:SUCCESSFUL"
    assert (event.currency, event.amount_minor) == ("KES", 1500_00)
    assert event.needs_confirmation


def test_malformed_callback_names_fields_never_values() -> None:
    body = json.dumps(_transfer("PAID")).encode()
    with pytest.raises(MalformedEvent) as caught:
        translate(body)
    assert "status" in str(caught.value)
    assert "PAID" not in str(caught.value) and "256772123456" not in str(caught.value)
