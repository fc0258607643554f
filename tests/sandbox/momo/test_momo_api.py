"""MoMo's disbursement API: auth, headers, validation, 202, 409, status, balance, callback."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from payments_engine.domain.webhooks import STANDARD_WEBHOOKS, SignatureError
from payments_engine.sandbox.momo.wire import TransferResult
from tests.sandbox.momo.support import (
    KES_FLOAT,
    KES_FLOAT_AFTER_ONE,
    MOMO_HEADERS,
    MOMO_SECRET,
    MOMO_WEBHOOK_URL,
    TRANSFER_PATH,
    Momo,
    new_reference_id,
    running_momo,
    transfer_body,
)
from tests.sandbox.support import API_KEY, WebhookReceiver

PATHS = [
    ("POST", TRANSFER_PATH),
    ("GET", f"{TRANSFER_PATH}/{uuid.UUID(int=1)}"),
    ("GET", "/momo/disbursement/v1_0/account/balance?currency=KES"),
]


async def test_transfer_answers_202_with_an_empty_body_then_succeeds_with_one_signed_callback(
    momo: Momo,
) -> None:
    reference_id, response = await momo.transfer(external_id="pay-ok")
    assert response.status_code == 202
    assert response.content == b""

    pending = await momo.status_of(reference_id)
    assert pending["status"] == "PENDING"
    assert "financialTransactionId" not in pending and "reason" not in pending

    await momo.wait_for_status(reference_id, "SUCCESSFUL")
    await momo.wait_for_callbacks(1)
    final = await momo.status_of(reference_id)
    assert final == {
        "amount": "1500.00",
        "currency": "KES",
        "financialTransactionId": final["financialTransactionId"],
        "externalId": "pay-ok",
        "payee": {"partyIdType": "MSISDN", "partyId": "254712345678"},
        "payerMessage": "payout",
        "payeeNote": "thanks",
        "status": "SUCCESSFUL",
    }
    assert final["financialTransactionId"]

    (request,) = momo.receiver.requests
    assert str(request.url) == MOMO_WEBHOOK_URL
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == final  # the callback is the status answer
    signed_at = STANDARD_WEBHOOKS.verify(
        MOMO_SECRET, request.headers, request.content, now=time.time()
    )
    assert abs(signed_at - time.time()) < 5
    other = STANDARD_WEBHOOKS.new_secret()
    with pytest.raises(SignatureError):
        STANDARD_WEBHOOKS.verify(other, request.headers, request.content, now=time.time())
    tampered = request.content.replace(b"SUCCESSFUL", b"FAILED")
    with pytest.raises(SignatureError):
        STANDARD_WEBHOOKS.verify(MOMO_SECRET, request.headers, tampered, now=time.time())

    (entry,) = await momo.webhook_log()
    assert request.headers["webhook-id"] == entry["delivery_id"]
    assert (entry["reference"], entry["reference_id"]) == ("pay-ok", reference_id)
    assert (entry["attempts"], entry["delivered"], entry["last_http_status"]) == (1, True, 200)

    (transfer,) = await momo.transfers()
    assert transfer["executed"] is True
    assert transfer["financial_transaction_id"] == final["financialTransactionId"]
    assert await momo.balance("KES") == KES_FLOAT_AFTER_ONE


async def test_each_callback_has_a_fresh_webhook_id(momo: Momo) -> None:
    await momo.transfer(external_id="a")
    await momo.transfer(external_id="b")
    await momo.wait_for_callbacks(2)
    ids = {request.headers["webhook-id"] for request in momo.receiver.requests}
    assert len(ids) == 2
    assert all(identifier.startswith("msg_") for identifier in ids)


@pytest.mark.parametrize(
    "second",
    [
        transfer_body(),  # the same body
        transfer_body(amount="99.00", party_id="254700000001", external_id="other"),
        {"not": "a transfer"},
    ],
)
async def test_a_repeated_reference_id_is_409_and_changes_nothing(
    momo: Momo, second: dict[str, object]
) -> None:
    reference_id, first = await momo.transfer()
    assert first.status_code == 202
    _, again = await momo.transfer(reference_id, body=second)
    assert again.status_code == 409
    assert again.json() == {
        "code": "RESOURCE_ALREADY_EXIST",
        "message": "Duplicated reference id. Creation of resource failed.",
    }
    # Upper case is the same UUID.
    _, upper = await momo.transfer(reference_id.upper(), body=second)
    assert upper.status_code == 409

    await momo.wait_for_status(reference_id, "SUCCESSFUL")
    (transfer,) = await momo.transfers()
    assert (transfer["reference_id"], transfer["amount"], transfer["submit_count"]) == (
        reference_id,
        "1500.00",
        3,
    )
    assert await momo.balance("KES") == KES_FLOAT_AFTER_ONE  # debited once
    await momo.wait_for_callbacks(1)
    assert len(await momo.webhook_log()) == 1


async def test_concurrent_repeats_create_one_transfer(momo: Momo) -> None:
    reference_id = new_reference_id()
    answers = await asyncio.gather(*(momo.transfer(reference_id) for _ in range(10)))
    codes = sorted(response.status_code for _, response in answers)
    assert codes == [202] + [409] * 9
    (transfer,) = await momo.transfers()
    assert transfer["submit_count"] == 10
    assert await momo.balance("KES") == KES_FLOAT_AFTER_ONE


@pytest.mark.parametrize("reference_id", [None, "", "pay-1", "1234", f"{uuid.UUID(int=2)}0"])
async def test_reference_id_must_be_a_uuid(momo: Momo, reference_id: str | None) -> None:
    headers = {} if reference_id is None else {"X-Reference-Id": reference_id}
    response = await momo.client.post(TRANSFER_PATH, json=transfer_body(), headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_REFERENCE_ID"
    assert await momo.transfers() == []
    assert (await momo.client.get(f"{TRANSFER_PATH}/pay-1")).status_code == 400


@pytest.mark.parametrize(("method", "path"), PATHS)
@pytest.mark.parametrize("key", [None, "", "wrong-key"])
async def test_missing_or_wrong_subscription_key_is_401(
    momo: Momo, method: str, path: str, key: str | None
) -> None:
    headers = {"X-Target-Environment": "sandbox", "X-Reference-Id": new_reference_id()}
    if key is not None:
        headers["Ocp-Apim-Subscription-Key"] = key
    request = momo.admin.build_request(method, path, json=transfer_body(), headers=headers)
    response = await momo.admin.send(request)
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
    assert response.json()["message"]
    assert await momo.transfers() == []


async def test_the_hub_key_does_not_open_momo(momo: Momo) -> None:
    response = await momo.admin.get(
        "/momo/disbursement/v1_0/account/balance",
        headers={"Ocp-Apim-Subscription-Key": API_KEY, "X-Target-Environment": "sandbox"},
    )
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path"), PATHS)
@pytest.mark.parametrize("environment", [None, "mtnuganda", "Sandbox"])
async def test_target_environment_must_be_sandbox(
    momo: Momo, method: str, path: str, environment: str | None
) -> None:
    headers = {"Ocp-Apim-Subscription-Key": MOMO_HEADERS["Ocp-Apim-Subscription-Key"]}
    headers["X-Reference-Id"] = new_reference_id()
    if environment is not None:
        headers["X-Target-Environment"] = environment
    request = momo.admin.build_request(method, path, json=transfer_body(), headers=headers)
    response = await momo.admin.send(request)
    assert response.status_code == 400
    assert response.json()["code"] == "NOT_ALLOWED_TARGET_ENVIRONMENT"
    assert await momo.transfers() == []


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
        {"payee": {"partyIdType": "MSISDN", "partyId": "+254712345678"}},
        {"payee": {"partyIdType": "MSISDN", "partyId": "0712345678"}},
        {"payee": {"partyIdType": "MSISDN", "partyId": "2547-12345678"}},
        {"payee": {"partyIdType": "EMAIL", "partyId": "254712345678"}},
        {"payee": {"partyIdType": "PHONE", "partyId": "254712345678"}},
        {"payee": {"partyId": "254712345678"}},
        {"payee": None},
    ],
)
async def test_invalid_bodies_are_400_without_personal_data(
    momo: Momo, change: dict[str, object]
) -> None:
    body = {**transfer_body(), **change}
    _, response = await momo.transfer(body=body)
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PARAMETER"
    assert response.json()["message"]
    assert "712345678" not in response.text
    assert await momo.transfers() == []
    assert await momo.balance("KES") == KES_FLOAT


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'{"amount": "1.00"'])
async def test_malformed_json_is_400(momo: Momo, raw: bytes) -> None:
    response = await momo.client.post(
        TRANSFER_PATH, content=raw, headers={"X-Reference-Id": new_reference_id()}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PARAMETER"
    assert await momo.transfers() == []


async def test_messages_are_optional_and_whole_unit_currencies_take_no_decimals(
    momo: Momo,
) -> None:
    body = {
        "amount": "5000",
        "currency": "UGX",
        "externalId": "pay-ugx",
        "payee": {"partyIdType": "MSISDN", "partyId": "256772123456"},
    }
    reference_id, response = await momo.transfer(body=body)
    assert response.status_code == 202
    status = await momo.status_of(reference_id)
    assert (status["amount"], status["currency"]) == ("5000", "UGX")
    assert "payerMessage" not in status
    (transfer,) = await momo.transfers()
    assert (transfer["amount"], transfer["amount_minor"]) == ("5000", 5000)

    _, decimals = await momo.transfer(body={**body, "amount": "5000.5"})
    assert decimals.status_code == 400


async def test_unknown_reference_id_is_404(momo: Momo) -> None:
    response = await momo.client.get(f"{TRANSFER_PATH}/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["code"] == "RESOURCE_NOT_FOUND"


async def test_status_queries_are_counted_and_the_reference_id_case_ignored(
    momo: Momo,
) -> None:
    reference_id, _ = await momo.transfer()
    await momo.status_of(reference_id)
    await momo.status_of(reference_id.upper())
    assert (await momo.admin_transfer(reference_id))["status_queries"] == 2


async def test_balance_in_major_units(momo: Momo) -> None:
    assert await momo.balance("KES") == KES_FLOAT
    assert await momo.balance("UGX") == "1000000000000"
    await momo.transfer(amount="0.50")
    assert await momo.balance("KES") == "9999999999.50"
    unknown = await momo.client.get(
        "/momo/disbursement/v1_0/account/balance", params={"currency": "XYZ"}
    )
    assert unknown.status_code == 400
    missing = await momo.client.get("/momo/disbursement/v1_0/account/balance")
    assert missing.status_code == 400  # several currencies: say which


async def test_balance_without_currency_shows_a_single_currency_float() -> None:
    async with running_momo(float_balances={"KES": 100}) as momo:
        response = await momo.client.get("/momo/disbursement/v1_0/account/balance")
        assert response.json() == {"availableBalance": "1.00", "currency": "KES"}


async def test_the_callback_url_header_wins_over_the_configured_url(momo: Momo) -> None:
    url = "http://merchant.test/hooks/momo?source=sandbox"
    reference_id, response = await momo.transfer(callback_url=url)
    assert response.status_code == 202
    await momo.wait_for_callbacks(1)
    (request,) = momo.receiver.requests
    assert str(request.url) == url
    (entry,) = await momo.webhook_log()
    assert entry["url"] == url
    assert (await momo.admin_transfer(reference_id))["callback_url"] == url


@pytest.mark.parametrize("url", ["not a url", "ftp://host/path", "/relative/path"])
async def test_a_bad_callback_url_is_refused(momo: Momo, url: str) -> None:
    _, response = await momo.transfer(callback_url=url)
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_CALLBACK_URL_HOST"
    assert await momo.transfers() == []


async def test_without_any_callback_url_nothing_is_sent() -> None:
    async with running_momo(webhook_url=None) as momo:
        reference_id, _ = await momo.transfer()
        await momo.wait_for_status(reference_id, "SUCCESSFUL")
        await asyncio.sleep(0.05)
        assert momo.receiver.requests == []
        assert await momo.webhook_log() == []


async def test_callback_is_sent_once_and_not_retried_after_a_500() -> None:
    receiver = WebhookReceiver(always_status=500)
    async with running_momo(receiver) as momo:
        reference_id, _ = await momo.transfer()
        await momo.wait_for_status(reference_id, "SUCCESSFUL")
        await momo.wait_for_callbacks(1)
        await asyncio.sleep(0.2)  # many ticks: room for a retry that must not come
        assert len(receiver.requests) == 1
        (entry,) = await momo.webhook_log()
        assert (entry["attempts"], entry["delivered"], entry["gave_up"]) == (1, False, True)
        assert (entry["last_http_status"], entry["last_error"]) == (500, "HTTP 500")
        # Polling still finds the outcome.
        assert (await momo.status_of(reference_id))["status"] == "SUCCESSFUL"


async def test_callback_is_not_retried_after_a_connection_error() -> None:
    receiver = WebhookReceiver(connect_errors=5)
    async with running_momo(receiver) as momo:
        await momo.transfer()
        await momo.wait_for_callbacks(1)
        await asyncio.sleep(0.2)
        assert len(receiver.requests) == 1
        (entry,) = await momo.webhook_log()
        assert (entry["attempts"], entry["gave_up"], entry["last_http_status"]) == (1, True, None)
        assert entry["last_error"].startswith("ConnectError")


async def test_result_model_reads_the_status_answer(momo: Momo) -> None:
    reference_id, _ = await momo.transfer(party_id="254700123451")
    result = TransferResult.model_validate(await momo.status_of(reference_id))
    assert (result.status, result.reason) == ("FAILED", "NOT_ENOUGH_FUNDS")
