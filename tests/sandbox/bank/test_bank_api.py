"""The bank's API: idempotent transfers by external_id, refusals, validation, auth, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.sandbox.bank.support import (
    COP_FLOAT,
    TRANSFERS_PATH,
    Bank,
    running_bank,
    transfer_body,
)


@pytest.fixture
async def bank() -> AsyncIterator[Bank]:
    """A running bank whose transfers stay ACCEPTED for the whole test."""
    async with running_bank(settlement_delay_seconds=3600.0) as running:
        yield running


async def test_a_transfer_is_accepted_and_answers_its_status(bank: Bank) -> None:
    answer = await bank.created()

    assert answer["id"].startswith("trf_")
    assert answer["external_id"] == "refund-rf-1"
    assert (answer["status"], answer["amount"], answer["currency"]) == (
        "ACCEPTED",
        "150000.00",
        "COP",
    )
    assert answer["beneficiary"] == {
        "bank_code": "007",
        "account_type": "savings",
        "account_last4": "5601",
        "country": "CO",
    }
    assert answer["return_code"] is None and answer["settled_at"] is None
    # The answer never carries the full account or the document number.
    assert "0012345601" not in str(answer) and "1020304050" not in str(answer)
    status = await bank.status_of("refund-rf-1")
    assert (status["id"], status["status"]) == (answer["id"], "ACCEPTED")
    assert await bank.cop_float() == COP_FLOAT - 15_000_000


async def test_a_mexican_transfer_in_mxn(bank: Bank) -> None:
    answer = await bank.created(currency="MXN", country="MX", amount="2500.50")
    assert (answer["currency"], answer["amount"]) == ("MXN", "2500.50")


async def test_the_same_external_id_and_body_answers_the_same_transfer(bank: Bank) -> None:
    first = await bank.created()
    again = await bank.submit()

    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    transfers = await bank.transfers()
    assert len(transfers) == 1 and transfers[0]["submit_count"] == 2
    # Paid once.
    assert await bank.cop_float() == COP_FLOAT - 15_000_000


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "150000.01"},
        {"account_number": "0012345602"},
        {"currency": "MXN", "country": "MX"},
        {"holder_name": "Otra Persona"},
    ],
)
async def test_the_same_external_id_with_another_body_is_a_conflict(
    bank: Bank, change: dict[str, Any]
) -> None:
    first = await bank.created()
    other = await bank.submit(**change)

    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"
    status = await bank.status_of("refund-rf-1")
    assert (status["id"], status["amount"]) == (first["id"], "150000.00")
    assert await bank.cop_float() == COP_FLOAT - 15_000_000


async def test_an_invalid_account_is_refused_at_once_and_nothing_is_created(bank: Bank) -> None:
    for _ in range(2):
        refused = await bank.submit(account_number="0012345608")
        assert refused.status_code == 400
        assert refused.json()["code"] == "invalid_account"
    assert (await bank.client.get(f"{TRANSFERS_PATH}/refund-rf-1")).status_code == 404
    assert await bank.transfers() == []
    assert await bank.cop_float() == COP_FLOAT


async def test_an_unknown_transfer_is_a_404(bank: Bank) -> None:
    response = await bank.client.get(f"{TRANSFERS_PATH}/refund-nobody")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_calls_need_the_api_key(bank: Bank, headers: dict[str, str]) -> None:
    post = await bank.admin.post(TRANSFERS_PATH, json=transfer_body(), headers=headers)
    get = await bank.admin.get(f"{TRANSFERS_PATH}/refund-rf-1", headers=headers)
    assert (post.status_code, get.status_code) == (401, 401)
    assert post.json()["code"] == "unauthorized"
    assert await bank.transfers() == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"currency": "USD"}, "currency"),
        ({"amount": "150000"}, "amount"),
        ({"amount": "150000.0"}, "amount"),
        ({"amount": "0.00"}, "amount"),
        ({"amount": "-5.00"}, "amount"),
        ({"country": "MX"}, "beneficiary.country"),
        ({"bank_code": "7"}, "beneficiary.bank_code"),
        ({"account_number": "12-34"}, "beneficiary.account_number"),
        ({"document_type": "CURP"}, "beneficiary.document_type"),
        ({"document_number": "12AB"}, "beneficiary.document_number"),
        ({"account_type": "brokerage"}, "beneficiary.account_type"),
        ({"holder_name": "  x  "}, "beneficiary.holder_name"),
    ],
)
async def test_invalid_transfers_name_the_field_never_the_value(
    bank: Bank, fields: dict[str, Any], field: str
) -> None:
    body = transfer_body()
    beneficiary_fields = set(body["beneficiary"])
    for name, value in fields.items():
        if name in beneficiary_fields:
            body["beneficiary"][name] = value
        else:
            body[name] = value
    response = await bank.submit(body)

    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "invalid_request"
    assert field in error["message"]
    assert "1020304050" not in error["message"] and "0012345601" not in error["message"]
    assert await bank.transfers() == []


async def test_unknown_fields_are_refused(bank: Bank) -> None:
    body = transfer_body()
    body["beneficiary"]["acount_number"] = "0012345601"
    response = await bank.submit(body)
    assert response.status_code == 422
    assert "acount_number" in response.json()["message"]


async def test_a_float_too_low_refuses_the_transfer() -> None:
    async with running_bank(float_balances={"COP": 100}) as bank:
        refused = await bank.submit()
        assert refused.status_code == 400
        assert refused.json()["code"] == "insufficient_funds"
        assert await bank.transfers() == []


async def test_an_error_rate_answers_503_before_anything(bank: Bank) -> None:
    bank.state.store.faults.error_rate = 1.0
    response = await bank.submit()
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    bank.state.store.faults.error_rate = 0.0
    assert await bank.transfers() == []


async def test_an_error_after_execute_keeps_the_transfer(bank: Bank) -> None:
    bank.state.store.faults.error_after_execute_rate = 1.0
    response = await bank.submit()
    assert response.status_code == 500
    bank.state.store.faults.error_after_execute_rate = 0.0
    # The client's status query finds what was executed; its repeat answers the same.
    assert (await bank.status_of("refund-rf-1"))["status"] == "ACCEPTED"
    repeat = await bank.submit()
    assert repeat.status_code == 200
    assert len(await bank.transfers()) == 1


async def test_the_api_docs_list_the_magic_account_numbers(bank: Bank) -> None:
    openapi = (await bank.admin.get("/openapi.json")).text
    assert "/bank/v1/transfers" in openapi and "account_closed" in openapi
    assert "document_mismatch" in openapi and "`09`" in openapi
