"""The networks' APIs: what they refuse, idempotent creates, expiries, cancels, receipts."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from payments_engine.sandbox.common.faults import Faults
from tests.sandbox.cash.support import (
    OXXO_DOCUMENT,
    CashSandbox,
    Network,
    efecty_body,
    oxxo_body,
    parse_time,
    running_cash,
)

EFECTY_PATH = "/efecty/v4/transactions"
OXXO_PATH = "/oxxo/v1/payment_intents"
SOON = (datetime.now(UTC) + timedelta(days=8)).isoformat()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"value": "120000.50"}, "INVALID_VALUE"),
        ({"value": "120000.00"}, "INVALID_VALUE"),
        ({"value": "19999"}, "INVALID_VALUE"),
        ({"value": "6000001"}, "INVALID_VALUE"),
        ({"currency": "USD"}, "INVALID_CURRENCY"),
        ({"paymentCountry": "MX"}, "INVALID_COUNTRY"),
        ({"paymentMethod": "PSE"}, "INVALID_PAYMENT_METHOD"),
        ({"expirationDate": SOON}, "INVALID_EXPIRATION_DATE"),
        ({"expirationDate": "2020-01-01T00:00:00"}, "INVALID_EXPIRATION_DATE"),
        (
            {"buyer": {"fullName": "Ana", "dniType": "CURP", "dniNumber": "1234567"}},
            "INVALID_BUYER",
        ),
        ({"buyer": {"fullName": "Ana", "dniType": "CC", "dniNumber": "12AB"}}, "INVALID_BUYER"),
        ({"notifyUrl": "ftp://merchant.test"}, "INVALID_REQUEST"),
        ({"buyer": None}, "INVALID_REQUEST"),
    ],
)
async def test_efecty_refuses_what_it_cannot_issue(
    cash: CashSandbox, change: dict[str, Any], code: str
) -> None:
    body = efecty_body("cash-order-bad", **change)
    response = await cash.efecty.client.post(EFECTY_PATH, json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert (answer["code"], answer["error"]) == ("ERROR", code)
    # Field names, never the values (the buyer's document is personal data).
    assert "1234567" not in answer["message"] and "12AB" not in answer["message"]
    assert cash.efecty.store.transfers() == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": "9.99"}, "amount_too_small"),
        ({"amount": "10000.01"}, "amount_too_large"),
        ({"amount": "15.001"}, "parameter_invalid"),
        ({"currency": "COP"}, "currency_not_supported"),
        ({"payment_method_types": ["card"]}, "payment_method_unexpected_state"),
        (
            {"payment_method_options": {"oxxo": {"expires_after_days": 0}}},
            "parameter_invalid_integer",
        ),
        (
            {"payment_method_options": {"oxxo": {"expires_after_days": 8}}},
            "parameter_invalid_integer",
        ),
        ({"payer_document": {"type": "CC", "number": "10203040"}}, "parameter_invalid"),
        ({"payer_document": {"type": "CURP", "number": "NOTACURP"}}, "parameter_invalid"),
        ({"metadata": {}}, "parameter_missing"),
        ({"payer_document": None}, "parameter_invalid"),
    ],
)
async def test_oxxo_refuses_what_it_cannot_issue(
    cash: CashSandbox, change: dict[str, Any], code: str
) -> None:
    body = {**oxxo_body("cash-order-bad"), **change}
    response = await cash.oxxo.client.post(
        OXXO_PATH, json=body, headers={"Idempotency-Key": "cash-order-bad"}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", code)
    assert "10203040" not in error["message"]
    assert cash.oxxo.store.transfers() == []


async def test_oxxo_wants_an_idempotency_key(cash: CashSandbox) -> None:
    response = await cash.oxxo.client.post(OXXO_PATH, json=oxxo_body("cash-order-1"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parameter_missing"


async def test_both_want_their_credentials(network: Network) -> None:
    path = EFECTY_PATH if network.name == "efecty" else OXXO_PATH
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await network.admin.post(path, json={}, headers=headers)
        assert response.status_code == 401
        response = await network.admin.get(f"{path}/x", headers=headers)
        assert response.status_code == 401


async def test_efecty_answers_a_repeated_reference_code_as_a_duplicate(cash: CashSandbox) -> None:
    efecty = cash.efecty
    first = await efecty.issue("cash-order-1")
    again = await efecty.create("cash-order-1", value="999999")
    assert again.status_code == 409
    assert again.json()["error"] == "DUPLICATE_REFERENCE_CODE"
    status = (await efecty.status("cash-order-1")).json()
    assert status == first
    (voucher,) = (
        await efecty.admin.get("/admin/efecty/vouchers").json()
        if False
        else [await efecty.voucher("cash-order-1")]
    )
    assert (voucher["submit_count"], voucher["amount"]) == (2, "120000")
    assert "repeated" in [entry["event"] for entry in voucher["history"]]


async def test_oxxo_replays_a_repeated_key_and_refuses_it_with_another_body(
    cash: CashSandbox,
) -> None:
    oxxo = cash.oxxo
    first = await oxxo.create("cash-order-1")
    again = await oxxo.create("cash-order-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await oxxo.create("cash-order-1", amount="20.00")
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert len(oxxo.store.transfers()) == 1
    assert (await oxxo.voucher("cash-order-1"))["submit_count"] == 3


async def test_the_voucher_as_each_network_issues_it(cash: CashSandbox) -> None:
    efecty = (await cash.efecty.issue("cash-order-e"))["transactionResponse"]
    assert (efecty["state"], efecty["pendingReason"]) == ("PENDING", "AWAITING_NOTIFICATION")
    extra = efecty["extraParameters"]
    assert 9 <= len(str(extra["REFERENCE"])) <= 10 and isinstance(extra["REFERENCE"], int)
    assert extra["BAR_CODE"].isdigit() and str(extra["REFERENCE"]) in extra["BAR_CODE"]
    view = await cash.efecty.voucher("cash-order-e")
    assert extra["EXPIRATION_DATE"] == round(parse_time(view["expires_at"]).timestamp() * 1000)
    assert extra["URL_PAYMENT_RECEIPT_HTML"].endswith(f"/efecty/receipts/{extra['REFERENCE']}.html")

    oxxo = await cash.oxxo.issue("cash-order-o")
    details = oxxo["next_action"]["oxxo_display_details"]
    assert oxxo["status"] == "requires_action" and oxxo["id"].startswith("pi_")
    assert len(details["number"]) >= 14 and details["number"].isdigit()
    assert (oxxo["amount"], oxxo["currency"]) == ("1500.00", "MXN")
    assert oxxo["metadata"] == {"reference": "cash-order-o"}
    view = await cash.oxxo.voucher("cash-order-o")
    assert parse_time(details["expires_after"]) == parse_time(view["expires_at"])
    assert view["document_masked"] == "CURP " + "*" * 14 + OXXO_DOCUMENT[-4:-2] + "00"
    assert view["payer_masked"] == "D. L."


async def test_expiries_without_a_lifetime_override() -> None:
    """Efecty: 7 days by default, or the date asked for; OXXO: 23:59:59 Mexico City on the
    last of 1 to 7 days (default 3)."""
    plain = {"voucher_lifetime_seconds": None}
    async with running_cash(efecty=plain, oxxo=plain) as cash:
        now = cash.efecty.store.now()
        await cash.efecty.issue("e-1")
        default = parse_time((await cash.efecty.voucher("e-1"))["expires_at"])
        assert abs(default - now - timedelta(days=7)) < timedelta(seconds=5)
        asked = (now + timedelta(days=2)).isoformat()
        await cash.efecty.issue("e-2", expirationDate=asked)
        assert parse_time((await cash.efecty.voucher("e-2"))["expires_at"]) == parse_time(asked)
        # Without an offset: Bogota's local time.
        bogota = ZoneInfo("America/Bogota")
        local = (now + timedelta(days=1)).astimezone(bogota).replace(tzinfo=None, microsecond=0)
        await cash.efecty.issue("e-3", expirationDate=local.isoformat())
        expires = parse_time((await cash.efecty.voucher("e-3"))["expires_at"])
        assert expires == local.replace(tzinfo=bogota)
        zone = ZoneInfo("America/Mexico_City")
        for days, ref in ((None, "o-1"), (1, "o-2"), (7, "o-3")):
            await cash.oxxo.issue(ref, days=days)
            expires = parse_time((await cash.oxxo.voucher(ref))["expires_at"]).astimezone(zone)
            today = cash.oxxo.store.now().astimezone(zone).date()
            assert expires.date() == today + timedelta(days=days or 3)
            assert expires.time() == time(23, 59, 59)


async def test_a_pending_voucher_is_cancelled_once_and_notified(network: Network) -> None:
    ref = "cash-order-c"
    await network.issue(ref)
    for _ in range(2):
        response = await network.cancel(ref)
        assert response.status_code == 200, response.text
    answer = response.json()
    if network.name == "efecty":
        assert answer["transactionResponse"]["state"] == "CANCELLED"
    else:
        assert (answer["status"], answer["cancellation_reason"]) == (
            "canceled",
            "requested_by_customer",
        )
    (body,) = await network.wait_for_notifications(1)
    if network.name == "efecty":
        assert (body["state_pol"], body["response_message_pol"]) == ("6", "CANCELLED_TRANSACTION")
    view = await network.voucher(ref)
    assert view["status"] == "CANCELLED" and view["closed_at"] is not None
    # Cancelled, it still takes a (late) payment: the network accepts it.
    assert (await network.pay(ref)).status_code == 200
    await network.wait_for_state(ref, "APPROVED")
    assert (await network.cancel(ref)).status_code == 409
    assert (await network.pay(ref)).status_code == 409
    states = [d["status"] for d in (await network.voucher(ref))["notifications"]]
    assert states == ["CANCELLED", "APPROVED"]


async def test_an_unknown_voucher(network: Network) -> None:
    assert (await network.status("cash-order-none")).status_code == 404
    assert (await network.pay("cash-order-none")).status_code == 404
    assert (await network.admin.get(f"/admin/{network.name}/vouchers/x")).status_code == 404
    if network.name == "efecty":
        response = await network.client.post(f"{EFECTY_PATH}/cash-order-none/cancel")
    else:
        response = await network.client.post(f"{OXXO_PATH}/pi_none/cancel")
        assert (await network.client.get(f"{OXXO_PATH}/pi_none")).status_code == 404
    assert response.status_code == 404


async def test_oxxo_reads_a_voucher_by_its_id_and_lists_by_reference(cash: CashSandbox) -> None:
    intent = await cash.oxxo.issue("cash-order-1")
    by_id = await cash.oxxo.client.get(f"{OXXO_PATH}/{intent['id']}")
    assert by_id.json() == intent
    listed = (await cash.oxxo.client.get(OXXO_PATH, params={"reference": "cash-order-1"})).json()
    assert [found["id"] for found in listed["data"]] == [intent["id"]]
    assert (await cash.oxxo.voucher("cash-order-1"))["status_queries"] == 2


async def test_the_printable_voucher_needs_no_credentials(cash: CashSandbox) -> None:
    extra = (await cash.efecty.issue("cash-order-e"))["transactionResponse"]["extraParameters"]
    page = await cash.efecty.admin.get(extra["URL_PAYMENT_RECEIPT_HTML"])
    assert page.status_code == 200 and str(extra["REFERENCE"]) in page.text
    assert "María" not in page.text  # no personal data on it
    pdf = await cash.efecty.admin.get(extra["URL_PAYMENT_RECEIPT_PDF"])
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")
    details = (await cash.oxxo.issue("cash-order-o"))["next_action"]["oxxo_display_details"]
    page = await cash.oxxo.admin.get(details["hosted_voucher_url"])
    assert page.status_code == 200 and details["number"] in page.text
    assert (await cash.oxxo.admin.get("/oxxo/vouchers/123")).status_code == 404
    assert (await cash.efecty.admin.get("/efecty/receipts/123.html")).status_code == 404


async def test_faults(network: Network) -> None:
    faults = f"/admin/{network.name}/faults"
    await network.admin.put(faults, json=Faults(error_rate=1.0).model_dump())
    assert (await network.create("cash-order-1")).status_code == 503
    assert network.store.transfers() == []
    await network.admin.put(faults, json=Faults(error_after_execute_rate=1.0).model_dump())
    assert (await network.create("cash-order-1")).status_code == 500
    assert (await network.voucher("cash-order-1"))["status"] == "PENDING"
    await network.admin.put(faults, json=Faults(duplicate_webhooks=True).model_dump())
    await network.issue("cash-order-2")
    await network.cancel("cash-order-2")
    bodies = await network.wait_for_notifications(2)
    assert bodies[0] == bodies[1]
