"""MoMo collections' request to pay: headers, validation, 202, 409, status, float, callback."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest

from payments_engine.domain.webhooks import STANDARD_WEBHOOKS, SignatureError
from payments_engine.sandbox.momo.wire import RequestToPayResult
from tests.sandbox.momo.support import (
    KES_FLOAT,
    KES_FLOAT_AFTER_ONE,
    KES_FLOAT_AFTER_ONE_COLLECTED,
    MOMO_HEADERS,
    MOMO_SECRET,
    MOMO_WEBHOOK_URL,
    REQUEST_TO_PAY_PATH,
    TRANSFER_PATH,
    Momo,
    make_momo_config,
    new_reference_id,
    request_to_pay_body,
    running_momo,
)
from tests.sandbox.support import WebhookReceiver, make_config, served, wait_until

PATHS = [
    ("POST", REQUEST_TO_PAY_PATH),
    ("GET", f"{REQUEST_TO_PAY_PATH}/{uuid.UUID(int=1)}"),
]


async def test_request_to_pay_answers_202_empty_then_succeeds_with_one_signed_callback(
    momo: Momo,
) -> None:
    reference_id, response = await momo.request_to_pay(external_id="col-ok")
    assert response.status_code == 202
    assert response.content == b""

    pending = await momo.request_status_of(reference_id)
    assert pending == {
        "amount": "1500.00",
        "currency": "KES",
        "externalId": "col-ok",
        "payer": {"partyIdType": "MSISDN", "partyId": "256772345678"},
        "payerMessage": "order 42",
        "payeeNote": "shop",
        "status": "PENDING",
    }
    assert await momo.balance("KES") == KES_FLOAT  # nothing moves while the payer decides

    await momo.wait_for_request_status(reference_id, "SUCCESSFUL")
    await momo.wait_for_callbacks(1)
    final = await momo.request_status_of(reference_id)
    assert final == {
        **pending,
        "financialTransactionId": final["financialTransactionId"],
        "status": "SUCCESSFUL",
    }
    assert final["financialTransactionId"]
    assert "reason" not in final and "fee" not in final

    (request,) = momo.receiver.requests
    assert str(request.url) == MOMO_WEBHOOK_URL
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == final  # the callback is the status answer
    assert request.headers["webhook-id"].startswith("msg_")
    signed_at = STANDARD_WEBHOOKS.verify(
        MOMO_SECRET, request.headers, request.content, now=time.time()
    )
    assert abs(signed_at - time.time()) < 5
    tampered = request.content.replace(b"SUCCESSFUL", b"FAILED")
    with pytest.raises(SignatureError):
        STANDARD_WEBHOOKS.verify(MOMO_SECRET, request.headers, tampered, now=time.time())

    (entry,) = await momo.webhook_log()
    assert request.headers["webhook-id"] == entry["delivery_id"]
    assert (entry["reference"], entry["reference_id"], entry["kind"]) == (
        "col-ok",
        reference_id,
        "request_to_pay",
    )
    assert (entry["status"], entry["attempts"], entry["delivered"]) == ("SUCCESSFUL", 1, True)

    # The payer paid: the whole amount reaches the float (MoMo states no fee), once.
    assert await momo.balance("KES") == KES_FLOAT_AFTER_ONE_COLLECTED
    await asyncio.sleep(0.05)
    assert len(momo.receiver.requests) == 1
    assert await momo.balance("KES") == KES_FLOAT_AFTER_ONE_COLLECTED
    assert await momo.transfers() == []  # not a transfer


async def test_the_float_is_credited_in_the_request_currency(momo: Momo) -> None:
    usd, _ = await momo.request_to_pay(amount="25.50", currency="USD")
    ugx, _ = await momo.request_to_pay(amount="5000", currency="UGX")
    await momo.wait_for_request_status(usd, "SUCCESSFUL")
    await momo.wait_for_request_status(ugx, "SUCCESSFUL")
    assert await momo.balance("USD") == "10000000025.50"
    assert await momo.balance("UGX") == "1000000005000"
    assert await momo.balance("KES") == KES_FLOAT


async def test_a_currency_without_a_float_starts_from_zero() -> None:
    async with running_momo(float_balances={"KES": 100}) as momo:
        reference_id, _ = await momo.request_to_pay(amount="5000", currency="UGX")
        await momo.wait_for_request_status(reference_id, "SUCCESSFUL")
        assert await momo.balance("UGX") == "5000"
        assert await momo.balance("KES") == "1.00"


@pytest.mark.parametrize("currency", ["KES", "UGX", "EUR", "GBP"])
async def test_currencies_are_accepted_exactly_as_transfers_accept_them(
    momo: Momo, currency: str
) -> None:
    _, transfer = await momo.transfer(amount="10", currency=currency)
    _, request = await momo.request_to_pay(amount="10", currency=currency)
    assert transfer.status_code == request.status_code
    assert request.status_code in (202, 400)
    if request.status_code == 400:
        assert request.json() == transfer.json()


@pytest.mark.parametrize(
    "second",
    [
        request_to_pay_body(),  # the same body
        request_to_pay_body(amount="99.00", party_id="256772000011", external_id="other"),
        {"not": "a request to pay"},
    ],
)
async def test_a_repeated_reference_id_is_409_and_changes_nothing(
    momo: Momo, second: dict[str, object]
) -> None:
    reference_id, first = await momo.request_to_pay()
    assert first.status_code == 202
    _, again = await momo.request_to_pay(reference_id, body=second)
    assert again.status_code == 409
    assert again.json() == {
        "code": "RESOURCE_ALREADY_EXIST",
        "message": "Duplicated reference id. Creation of resource failed.",
    }
    # Upper case is the same UUID.
    _, upper = await momo.request_to_pay(reference_id.upper(), body=second)
    assert upper.status_code == 409

    await momo.wait_for_request_status(reference_id, "SUCCESSFUL")
    (request,) = await momo.requests_to_pay()
    assert (request["reference_id"], request["amount"], request["submit_count"]) == (
        reference_id,
        "1500.00",
        3,
    )
    await momo.wait_for_callbacks(1)
    await asyncio.sleep(0.05)
    assert len(momo.receiver.requests) == 1
    assert await momo.balance("KES") == KES_FLOAT_AFTER_ONE_COLLECTED  # credited once


async def test_transfers_and_requests_to_pay_are_separate_namespaces(momo: Momo) -> None:
    shared = new_reference_id()
    _, transfer = await momo.transfer(shared, external_id="pay-shared")
    _, request = await momo.request_to_pay(shared, external_id="col-shared")
    assert (transfer.status_code, request.status_code) == (202, 202)
    _, transfer_again = await momo.transfer(shared)
    _, request_again = await momo.request_to_pay(shared)
    assert (transfer_again.status_code, request_again.status_code) == (409, 409)

    assert (await momo.status_of(shared))["externalId"] == "pay-shared"
    assert (await momo.request_status_of(shared))["externalId"] == "col-shared"
    (as_transfer,) = await momo.transfers()
    (as_request,) = await momo.requests_to_pay()
    assert (as_transfer["external_id"], as_transfer["submit_count"]) == ("pay-shared", 2)
    assert (as_request["external_id"], as_request["submit_count"]) == ("col-shared", 2)

    only_request, _ = await momo.request_to_pay()
    only_transfer, _ = await momo.transfer()
    assert (await momo.client.get(f"{TRANSFER_PATH}/{only_request}")).status_code == 404
    assert (await momo.client.get(f"{REQUEST_TO_PAY_PATH}/{only_transfer}")).status_code == 404

    await momo.wait_for_callbacks(4)
    kinds = sorted((d["reference"], d["kind"]) for d in await momo.webhook_log())
    assert kinds[:2] == [("col-1", "request_to_pay"), ("col-shared", "request_to_pay")]
    assert [kind for _, kind in kinds[2:]] == ["transfer", "transfer"]
    # Two transfers paid out, two requests to pay paid in, 1500.00 each.
    assert await momo.balance("KES") == KES_FLOAT


async def test_concurrent_repeats_create_one_request_to_pay(momo: Momo) -> None:
    reference_id = new_reference_id()
    answers = await asyncio.gather(*(momo.request_to_pay(reference_id) for _ in range(10)))
    codes = sorted(response.status_code for _, response in answers)
    assert codes == [202] + [409] * 9
    (request,) = await momo.requests_to_pay()
    assert request["submit_count"] == 10
    await momo.wait_for_request_status(reference_id, "SUCCESSFUL")
    assert await momo.balance("KES") == KES_FLOAT_AFTER_ONE_COLLECTED


@pytest.mark.parametrize("reference_id", [None, "", "col-1", "1234", f"{uuid.UUID(int=2)}0"])
async def test_reference_id_must_be_a_uuid(momo: Momo, reference_id: str | None) -> None:
    headers = {} if reference_id is None else {"X-Reference-Id": reference_id}
    response = await momo.client.post(
        REQUEST_TO_PAY_PATH, json=request_to_pay_body(), headers=headers
    )
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_REFERENCE_ID"
    assert await momo.requests_to_pay() == []
    not_uuid = await momo.client.get(f"{REQUEST_TO_PAY_PATH}/col-1")
    assert (not_uuid.status_code, not_uuid.json()["code"]) == (400, "INVALID_REFERENCE_ID")


@pytest.mark.parametrize(("method", "path"), PATHS)
@pytest.mark.parametrize("key", [None, "", "wrong-key"])
async def test_missing_or_wrong_subscription_key_is_401(
    momo: Momo, method: str, path: str, key: str | None
) -> None:
    headers = {"X-Target-Environment": "sandbox", "X-Reference-Id": new_reference_id()}
    if key is not None:
        headers["Ocp-Apim-Subscription-Key"] = key
    request = momo.admin.build_request(method, path, json=request_to_pay_body(), headers=headers)
    response = await momo.admin.send(request)
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
    assert await momo.requests_to_pay() == []


@pytest.mark.parametrize(("method", "path"), PATHS)
@pytest.mark.parametrize("environment", [None, "mtnuganda", "Sandbox"])
async def test_target_environment_must_be_sandbox(
    momo: Momo, method: str, path: str, environment: str | None
) -> None:
    headers = {"Ocp-Apim-Subscription-Key": MOMO_HEADERS["Ocp-Apim-Subscription-Key"]}
    headers["X-Reference-Id"] = new_reference_id()
    if environment is not None:
        headers["X-Target-Environment"] = environment
    request = momo.admin.build_request(method, path, json=request_to_pay_body(), headers=headers)
    response = await momo.admin.send(request)
    assert response.status_code == 400
    assert response.json()["code"] == "NOT_ALLOWED_TARGET_ENVIRONMENT"
    assert await momo.requests_to_pay() == []


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "abc"},
        {"amount": "0.00"},
        {"amount": "-5.00"},
        {"amount": "1e3"},
        {"amount": "10.505"},
        {"amount": 1500},
        {"currency": "XYZ"},
        {"currency": "KESX"},
        {"externalId": ""},
        {"payer": {"partyIdType": "MSISDN", "partyId": "+256772345678"}},
        {"payer": {"partyIdType": "MSISDN", "partyId": "0772345678"}},
        {"payer": {"partyIdType": "MSISDN", "partyId": "2567-72345678"}},
        {"payer": {"partyIdType": "EMAIL", "partyId": "256772345678"}},
        {"payer": {"partyIdType": "PHONE", "partyId": "256772345678"}},
        {"payer": {"partyId": "256772345678"}},
        {"payer": None},
    ],
)
async def test_invalid_bodies_are_400_without_personal_data(
    momo: Momo, change: dict[str, object]
) -> None:
    body = {**request_to_pay_body(), **change}
    _, response = await momo.request_to_pay(body=body)
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PARAMETER"
    assert response.json()["message"]
    assert "772345678" not in response.text
    assert await momo.requests_to_pay() == []
    await asyncio.sleep(0.05)
    assert momo.receiver.requests == []


async def test_the_payer_is_required_a_payee_does_not_do(momo: Momo) -> None:
    body = request_to_pay_body()
    body["payee"] = body.pop("payer")
    _, response = await momo.request_to_pay(body=body)
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PARAMETER"
    assert "payer" in response.json()["message"]


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'{"amount": "1.00"'])
async def test_malformed_json_is_400(momo: Momo, raw: bytes) -> None:
    response = await momo.client.post(
        REQUEST_TO_PAY_PATH, content=raw, headers={"X-Reference-Id": new_reference_id()}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PARAMETER"
    assert await momo.requests_to_pay() == []


async def test_messages_are_optional_and_whole_unit_currencies_take_no_decimals(
    momo: Momo,
) -> None:
    body = {
        "amount": "5000",
        "currency": "UGX",
        "externalId": "col-ugx",
        "payer": {"partyIdType": "MSISDN", "partyId": "256772123456"},
    }
    reference_id, response = await momo.request_to_pay(body=body)
    assert response.status_code == 202
    status = await momo.request_status_of(reference_id)
    assert (status["amount"], status["currency"]) == ("5000", "UGX")
    assert "payerMessage" not in status and "payeeNote" not in status
    (request,) = await momo.requests_to_pay()
    assert (request["amount"], request["amount_minor"]) == ("5000", 5000)

    _, decimals = await momo.request_to_pay(body={**body, "amount": "5000.5"})
    assert decimals.status_code == 400
    # Empty messages, as a client without a description sends them, are echoed back.
    empty, _ = await momo.request_to_pay(body={**body, "payerMessage": "", "payeeNote": ""})
    echoed = await momo.request_status_of(empty)
    assert (echoed["payerMessage"], echoed["payeeNote"]) == ("", "")


async def test_unknown_reference_id_is_404(momo: Momo) -> None:
    response = await momo.client.get(f"{REQUEST_TO_PAY_PATH}/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json() == {
        "code": "RESOURCE_NOT_FOUND",
        "message": "Requested resource was not found.",
    }


async def test_status_queries_are_counted_and_the_reference_id_case_ignored(
    momo: Momo,
) -> None:
    reference_id, _ = await momo.request_to_pay()
    await momo.request_status_of(reference_id)
    await momo.request_status_of(reference_id.upper())
    request = await momo.admin_request(reference_id)
    assert (request["status_queries"], request["submit_count"]) == (2, 1)


async def test_there_is_no_cancel(momo: Momo) -> None:
    reference_id, _ = await momo.request_to_pay(party_id="256772000012")  # never answers
    for method in ("DELETE", "PUT"):
        response = await momo.client.request(method, f"{REQUEST_TO_PAY_PATH}/{reference_id}")
        assert response.status_code == 405
    cancel = await momo.client.post(f"{REQUEST_TO_PAY_PATH}/{reference_id}/cancel")
    assert cancel.status_code == 404
    assert (await momo.request_status_of(reference_id))["status"] == "PENDING"


async def test_the_callback_url_header_wins_over_the_configured_url(momo: Momo) -> None:
    url = "http://merchant.test/hooks/momo?source=collections"
    reference_id, response = await momo.request_to_pay(callback_url=url)
    assert response.status_code == 202
    await momo.wait_for_callbacks(1)
    (request,) = momo.receiver.requests
    assert str(request.url) == url
    (entry,) = await momo.webhook_log()
    assert entry["url"] == url
    assert (await momo.admin_request(reference_id))["callback_url"] == url


@pytest.mark.parametrize("url", ["not a url", "ftp://host/path", "/relative/path"])
async def test_a_bad_callback_url_is_refused(momo: Momo, url: str) -> None:
    _, response = await momo.request_to_pay(callback_url=url)
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_CALLBACK_URL_HOST"
    assert await momo.requests_to_pay() == []


async def test_without_any_callback_url_nothing_is_sent() -> None:
    async with running_momo(webhook_url=None) as momo:
        reference_id, _ = await momo.request_to_pay()
        await momo.wait_for_request_status(reference_id, "SUCCESSFUL")
        await asyncio.sleep(0.05)
        assert momo.receiver.requests == []
        assert await momo.webhook_log() == []


async def test_callback_is_sent_once_and_not_retried_after_a_500() -> None:
    receiver = WebhookReceiver(always_status=500)
    async with running_momo(receiver) as momo:
        reference_id, _ = await momo.request_to_pay()
        await momo.wait_for_request_status(reference_id, "SUCCESSFUL")
        await momo.wait_for_callbacks(1)
        await asyncio.sleep(0.2)  # many ticks: room for a retry that must not come
        assert len(receiver.requests) == 1
        (entry,) = await momo.webhook_log()
        assert (entry["attempts"], entry["delivered"], entry["gave_up"]) == (1, False, True)
        # Polling still finds the outcome.
        assert (await momo.request_status_of(reference_id))["status"] == "SUCCESSFUL"


async def test_error_rate_answers_503_before_doing_anything(momo: Momo) -> None:
    before, _ = await momo.request_to_pay()
    assert (await momo.admin.put("/admin/momo/faults", json={"error_rate": 1.0})).is_success
    _, refused = await momo.request_to_pay()
    assert refused.status_code == 503
    assert refused.json()["code"] == "SERVICE_UNAVAILABLE"
    assert (await momo.client.get(f"{REQUEST_TO_PAY_PATH}/{before}")).status_code == 503
    await momo.admin.put("/admin/momo/faults", json={})
    assert [r["reference_id"] for r in await momo.requests_to_pay()] == [before]
    assert (await momo.admin_request(before))["status_queries"] == 0


async def test_error_after_execute_creates_the_request_then_answers_500(momo: Momo) -> None:
    await momo.admin.put("/admin/momo/faults", json={"error_after_execute_rate": 1.0})
    reference_id, response = await momo.request_to_pay()
    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL_PROCESSING_ERROR"
    (request,) = await momo.requests_to_pay()
    assert request["reference_id"] == reference_id
    await momo.admin.put("/admin/momo/faults", json={})
    # What a correct client does next: ask by the same reference id; a resubmit is a 409.
    await momo.wait_for_request_status(reference_id, "SUCCESSFUL")
    _, again = await momo.request_to_pay(reference_id)
    assert again.status_code == 409
    assert await momo.balance("KES") == KES_FLOAT_AFTER_ONE_COLLECTED


async def test_hold_submissions_creates_the_request_then_holds_the_answer(momo: Momo) -> None:
    await momo.admin.put("/admin/momo/faults", json={"hold_submissions": True})
    answer = asyncio.create_task(momo.request_to_pay())
    while not await momo.requests_to_pay():
        await asyncio.sleep(0.01)
    (request,) = await momo.requests_to_pay()
    await momo.wait_for_request_status(request["reference_id"], "SUCCESSFUL")
    await asyncio.sleep(0.1)
    assert not answer.done()
    await momo.admin.put("/admin/momo/faults", json={})
    _, response = await asyncio.wait_for(answer, 2.0)
    assert response.status_code == 202


async def test_a_transfer_and_a_request_to_pay_move_the_float_both_ways(momo: Momo) -> None:
    transfer, _ = await momo.transfer()
    await momo.wait_for_status(transfer, "SUCCESSFUL")
    assert await momo.balance("KES") == KES_FLOAT_AFTER_ONE
    request, _ = await momo.request_to_pay()
    await momo.wait_for_request_status(request, "SUCCESSFUL")
    assert await momo.balance("KES") == KES_FLOAT


async def test_result_model_reads_the_status_answer(momo: Momo) -> None:
    reference_id, _ = await momo.request_to_pay(party_id="256772000011")
    await momo.wait_for_request_status(reference_id, "FAILED")
    result = RequestToPayResult.model_validate(await momo.request_status_of(reference_id))
    assert (result.status, result.reason) == ("FAILED", "APPROVAL_REJECTED")
    assert result.payer.party_id == "256772000011"


async def test_a_request_to_pay_over_a_real_socket() -> None:
    receiver = WebhookReceiver()
    reference_id = new_reference_id()
    headers = {**MOMO_HEADERS, "X-Reference-Id": reference_id}
    async with (
        served(receiver, make_config(), make_momo_config()) as url,
        httpx.AsyncClient(base_url=url, headers=MOMO_HEADERS) as client,
    ):
        body = request_to_pay_body(external_id="col-http")
        first = await client.post(REQUEST_TO_PAY_PATH, json=body, headers=headers)
        assert (first.status_code, first.content) == (202, b"")
        again = await client.post(REQUEST_TO_PAY_PATH, json=body, headers=headers)
        assert (again.status_code, again.json()["code"]) == (409, "RESOURCE_ALREADY_EXIST")
        await wait_until(lambda: len(receiver.requests) == 1, 2.0, "the callback")
        status = await client.get(f"{REQUEST_TO_PAY_PATH}/{reference_id}")
        assert status.status_code == 200
        assert status.json()["status"] == "SUCCESSFUL"
        assert json.loads(receiver.requests[0].content) == status.json()
