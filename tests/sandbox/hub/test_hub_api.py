"""The hub API: authentication, validation, acceptance, idempotency, status and balance."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from payments_engine.domain.money import Money
from payments_engine.domain.webhooks import HMAC_T_V1, SIGNATURE_HEADER, SignatureError, verify
from payments_engine.sandbox.common.config import DEFAULT_FLOAT_MINOR
from payments_engine.sandbox.hub.wire import DUPLICATE_MESSAGE, HubAck, HubTransfer
from tests.sandbox.support import WEBHOOK_SECRET, WEBHOOK_URL, Sandbox, running_sandbox

TRANSACTION_ID = re.compile(r"^MFS[0-9A-F]{12}$")
EVENT_ID = re.compile(r"^evt_[0-9a-f]{16}$")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/hub/v1/payouts"),
        ("GET", "/hub/v1/payouts/any"),
        ("GET", "/hub/v1/balance"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", "Basic c2FuZGJveA=="])
async def test_hub_refuses_missing_or_wrong_key(
    sandbox: Sandbox, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    # Replace the client's default header rather than add to it.
    request = sandbox.client.build_request(method, path, json={}, headers=headers)
    if authorization is None:
        del request.headers["Authorization"]
    response = await sandbox.client.send(request)
    assert response.status_code == 401
    assert response.json()["code"] == "401"
    assert response.json()["message"]
    assert await sandbox.transfers() == []


async def test_healthz_needs_no_key(sandbox: Sandbox) -> None:
    response = await sandbox.client.get("/healthz", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_accepted_payout_is_queued_then_succeeds_with_a_signed_webhook() -> None:
    async with running_sandbox(settle_seconds=0.3) as sandbox:
        response = await sandbox.submit("pay-1", amount="1500.00")
        assert response.status_code == 200
        ack = HubAck.model_validate_json(response.content)
        assert (ack.code, ack.status, ack.third_party_trans_id) == ("100", "MR108", "pay-1")
        assert ack.transaction_id is not None and TRANSACTION_ID.match(ack.transaction_id)

        queued = HubTransfer.model_validate(await sandbox.status_of("pay-1"))
        assert queued.status == "MR108"
        assert queued.transaction_id == ack.transaction_id
        assert (queued.send_amount, queued.receive_amount, queued.fx_rate) == (
            "1500.00",
            "1500.00",
            "1",
        )
        assert sandbox.receiver.requests == []

        await sandbox.wait_for_status("pay-1", "MR101")
        await sandbox.wait_for_webhooks(1)
        (request,) = sandbox.receiver.requests
        assert str(request.url) == WEBHOOK_URL
        assert request.headers["content-type"] == "application/json"
        signed_at = verify(
            WEBHOOK_SECRET, request.headers[SIGNATURE_HEADER], request.content, time.time()
        )
        assert abs(signed_at - time.time()) < 5
        with pytest.raises(SignatureError):
            verify("another-secret", request.headers[SIGNATURE_HEADER], request.content, 0)
        # The same check through the scheme object the relay picks for the hub.
        assert (
            HMAC_T_V1.verify(WEBHOOK_SECRET, request.headers, request.content, now=time.time())
            == signed_at
        )
        assert "webhook-signature" not in request.headers
        (callback,) = sandbox.receiver.callbacks()
        assert EVENT_ID.match(callback.event_id)
        assert callback.type == "transactionStatus"
        assert (callback.third_party_trans_id, callback.transaction_id) == (
            "pay-1",
            ack.transaction_id,
        )
        assert (callback.status, callback.currency, callback.send_amount) == (
            "MR101",
            "KES",
            "1500.00",
        )
        offset = callback.timestamp.utcoffset()
        assert offset is not None and offset.total_seconds() == 0

        (transfer,) = await sandbox.transfers()
        assert transfer["executed"] is True
        assert transfer["amount"] == 150000


async def test_repeat_with_same_parameters_returns_the_same_transfer_once(
    sandbox: Sandbox,
) -> None:
    before = await sandbox.balance("KES")
    first = await sandbox.submit("pay-rep", amount="250.00")
    second = await sandbox.submit("pay-rep", amount="250.00")

    assert first.status_code == second.status_code == 200
    assert second.json()["code"] == "100"
    assert second.json()["transactionId"] == first.json()["transactionId"]
    (transfer,) = await sandbox.transfers()
    assert transfer["submit_count"] == 2
    assert transfer["executed"] is True
    expected = Money(amount=DEFAULT_FLOAT_MINOR - 25000, currency="KES").to_major()
    assert before == Money(amount=DEFAULT_FLOAT_MINOR, currency="KES").to_major()
    assert await sandbox.balance("KES") == expected

    await sandbox.wait_for_status("pay-rep", "MR101")
    third = await sandbox.submit("pay-rep", amount="250.00")
    assert third.json()["status"] == "MR101"
    assert third.json()["transactionId"] == first.json()["transactionId"]
    await sandbox.wait_for_webhooks(1)
    assert len(await sandbox.webhook_log()) == 1


async def test_concurrent_repeats_execute_one_transfer(sandbox: Sandbox) -> None:
    responses = await asyncio.gather(*(sandbox.submit("pay-race") for _ in range(10)))
    assert {response.status_code for response in responses} == {200}
    assert len({response.json()["transactionId"] for response in responses}) == 1
    (transfer,) = await sandbox.transfers()
    assert transfer["submit_count"] == 10
    assert await sandbox.balance("KES") == "9999998500.00"


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "251.00"},
        {"msisdn": "+254712345679"},
        {"currency": "UGX", "amount": "250"},
        {"country": "UG"},
    ],
)
async def test_repeat_with_other_parameters_is_a_conflict(
    sandbox: Sandbox, change: dict[str, str]
) -> None:
    first = await sandbox.submit("pay-dup", amount="250.00")
    second = await sandbox.submit("pay-dup", **{"amount": "250.00", **change})

    assert second.status_code == 409
    assert second.json() == {"code": "101", "message": DUPLICATE_MESSAGE}
    (transfer,) = await sandbox.transfers()
    assert transfer["submit_count"] == 2
    assert transfer["transactionId"] == first.json()["transactionId"]
    assert (transfer["amount"], transfer["currency"]) == (25000, "KES")


@pytest.mark.parametrize(
    ("currency", "amount"),
    [
        ("UGX", "10.5"),
        ("UGX", "10.0"),
        ("KES", "10.5"),
        ("KES", "10"),
        ("KES", "10.505"),
        ("KES", "abc"),
        ("KES", "0.00"),
        ("KES", "-5.00"),
        ("KES", "1e3"),
        ("XYZ", "10.00"),
    ],
)
async def test_amount_and_currency_are_validated(
    sandbox: Sandbox, currency: str, amount: str
) -> None:
    response = await sandbox.submit("pay-bad", currency=currency, amount=amount)
    assert response.status_code == 422
    assert response.json()["code"] == "101"
    assert response.json()["message"]
    assert await sandbox.transfers() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("msisdn", "0712345678"), ("msisdn", "+2547-1234"), ("msisdn", "12ab"), ("country", "ke")],
)
async def test_msisdn_and_country_are_validated(sandbox: Sandbox, field: str, value: str) -> None:
    response = await sandbox.submit("pay-bad", **{field: value})
    assert response.status_code == 422
    assert response.json()["code"] == "101"
    assert await sandbox.transfers() == []


async def test_malformed_body_gets_the_hubs_error_shape(sandbox: Sandbox) -> None:
    response = await sandbox.client.post("/hub/v1/payouts", json={"msisdn": "+254712345678"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "101"
    assert "thirdPartyTransId" in body["message"]


async def test_whole_unit_currency_is_accepted_without_decimals(sandbox: Sandbox) -> None:
    response = await sandbox.submit("pay-ugx", currency="UGX", amount="5000", country="UG")
    assert response.status_code == 200
    (transfer,) = await sandbox.transfers()
    assert (transfer["amount"], transfer["currency"]) == (5000, "UGX")
    assert (await sandbox.status_of("pay-ugx"))["sendAmount"] == "5000"


async def test_unknown_reference_is_404(sandbox: Sandbox) -> None:
    response = await sandbox.client.get("/hub/v1/payouts/never-sent")
    assert response.status_code == 404
    assert response.json() == {"code": "404", "message": "no transaction with given ThirdParty"}


async def test_balance_lists_every_float_in_major_units(sandbox: Sandbox) -> None:
    response = await sandbox.client.get("/hub/v1/balance")
    assert response.status_code == 200
    balances = {entry["currency"]: entry["available"] for entry in response.json()["balances"]}
    assert set(balances) >= {"KES", "UGX", "TZS", "GHS", "RWF", "XOF", "NGN", "ZMW", "USD"}
    assert balances["KES"] == "10000000000.00"
    assert balances["UGX"] == "1000000000000"

    await sandbox.submit("pay-bal", currency="UGX", amount="700", country="UG")
    assert await sandbox.balance("UGX") == "999999999300"


async def test_payout_beyond_the_float_is_accepted_then_fails_unexecuted() -> None:
    async with running_sandbox(float_balances={"KES": 100_000}) as sandbox:
        response = await sandbox.submit("pay-big", amount="1000.01")
        assert response.json()["code"] == "100"
        await sandbox.wait_for_status("pay-big", "ER102")
        (transfer,) = await sandbox.transfers()
        assert transfer["executed"] is False
        assert await sandbox.balance("KES") == "1000.00"
        await sandbox.wait_for_webhooks(1)
        assert sandbox.receiver.callbacks()[0].status == "ER102"

        # A payout the float covers still goes through.
        await sandbox.submit("pay-small", amount="1000.00")
        await sandbox.wait_for_status("pay-small", "MR101")
        assert await sandbox.balance("KES") == "0.00"
