"""The card issuer API: auth, cardholders and their KYC, cards, transactions, notifications."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from payments_engine.sandbox.issuer.records import mask_pan
from payments_engine.sandbox.issuer.scenarios import KycScenario, markdown_table, scenario_for
from payments_engine.sandbox.issuer.store import luhn_check_digit
from tests.sandbox.issuer.support import (
    ISSUER_WEBHOOK_URL,
    PATIENCE,
    Issuer,
    cardholder_body,
    verify,
)
from tests.sandbox.support import wait_until

PROTECTED = [
    ("POST", "/issuer/v1/cardholders"),
    ("GET", "/issuer/v1/cardholders/chd_x"),
    ("POST", "/issuer/v1/cards"),
    ("GET", "/issuer/v1/cards/crd_x"),
    ("POST", "/issuer/v1/cards/crd_x/close"),
    ("GET", "/issuer/v1/transactions/txn_x"),
    ("POST", "/issuer/v1/notifications"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_every_call_needs_the_bearer_token(issuer: Issuer, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "issuer-test-key"}):
        response = await issuer.admin.request(method, path, json={}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"


async def test_a_cardholder_is_created_once_per_idempotency_key(issuer: Issuer) -> None:
    headers = {"Idempotency-Key": "kyc-1"}
    first = await issuer.client.post(
        "/issuer/v1/cardholders", json=cardholder_body(), headers=headers
    )
    assert first.status_code == 201
    holder = first.json()
    assert set(holder) == {"token", "reference", "kyc_status", "created", "updated"}
    assert re.fullmatch(r"chd_[0-9a-f]+", holder["token"])
    assert (holder["reference"], holder["kyc_status"]) == ("card-abc", "APPROVED")
    assert holder["created"].endswith("Z")

    again = await issuer.client.post(
        "/issuer/v1/cardholders", json=cardholder_body(), headers=headers
    )
    assert (again.status_code, again.json()) == (200, holder)

    other = await issuer.client.post(
        "/issuer/v1/cardholders", json=cardholder_body(reference="card-xyz"), headers=headers
    )
    assert other.status_code == 409
    assert other.json()["error"] == "idempotency_key_reused"

    missing = await issuer.client.post("/issuer/v1/cardholders", json=cardholder_body())
    assert missing.status_code == 400
    assert missing.json()["error"] == "idempotency_key_required"
    assert len(await issuer.admin_get("/cardholders")) == 1


async def test_a_bad_cardholder_body_is_a_422_naming_fields_not_values(issuer: Issuer) -> None:
    body = cardholder_body(document="Secret-99")
    body["date_of_birth"] = "17/05/1990"
    body["id_document"]["type"] = "driving_licence"
    response = await issuer.client.post(
        "/issuer/v1/cardholders", json=body, headers={"Idempotency-Key": "bad"}
    )
    assert response.status_code == 422
    answer = response.json()
    assert answer["error"] == "invalid_request"
    assert "date_of_birth" in answer["message"] and "id_document.type" in answer["message"]
    assert "17/05/1990" not in response.text and "Secret-99" not in response.text


async def test_kyc_magic_values(issuer: Issuer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rejected = await issuer.cardholder("card-r", "AB120001")
    assert rejected["kyc_status"] == "REJECTED"
    approved = await issuer.cardholder("card-a", "AB129999")
    assert approved["kyc_status"] == "APPROVED"
    later_ok = await issuer.cardholder("card-p", "AB120002")
    later_no = await issuer.cardholder("card-q", "AB120003")
    assert later_ok["kyc_status"] == later_no["kyc_status"] == "PENDING_REVIEW"

    async def reviewed() -> bool:
        ok = await issuer.get(f"/issuer/v1/cardholders/{later_ok['token']}")
        no = await issuer.get(f"/issuer/v1/cardholders/{later_no['token']}")
        return (ok["kyc_status"], no["kyc_status"]) == ("APPROVED", "REJECTED")

    await wait_until(reviewed, PATIENCE, "the reviews")
    events = await issuer.wait_for_events(2)
    assert sorted((e["cardholder_token"], e["kyc_status"]) for e in events) == sorted(
        [(later_ok["token"], "APPROVED"), (later_no["token"], "REJECTED")]
    )
    for request, event in zip(issuer.engine.accepted, events, strict=True):
        assert str(request.url) == ISSUER_WEBHOOK_URL
        verify(request)
        assert request.headers["webhook-id"] == event["event_id"]
        assert event["type"] == "cardholder.kyc_updated"
        assert event["card_reference"] in ("card-p", "card-q")
        assert set(event) == {
            "type",
            "event_id",
            "card_reference",
            "cardholder_token",
            "kyc_status",
            "created",
        }
    # Decisions taken at once are in the answer: no webhook for them.
    assert len(issuer.engine.webhooks) == 2

    listed = {c["reference"]: c for c in await issuer.admin_get("/cardholders")}
    assert listed["card-p"]["name_masked"] == "W*** K***"
    assert listed["card-p"]["document_masked"] == "****0002"
    shown = json.dumps(listed) + caplog.text
    assert "Wanjiku" not in shown and "Kamau" not in shown and "AB12" not in shown
    assert "1990-05-17" not in shown


def test_kyc_scenarios_by_the_last_four_characters() -> None:
    assert scenario_for("X0001") is KycScenario.REJECTED
    assert scenario_for("0002") is KycScenario.REVIEW_APPROVED
    assert scenario_for("P-0003") is KycScenario.REVIEW_REJECTED
    assert scenario_for("00010") is KycScenario.APPROVED
    table = markdown_table()
    for scenario in KycScenario:
        assert scenario.value in table and scenario.value in (KycScenario.__doc__ or "")


async def test_a_card_needs_an_approved_cardholder(issuer: Issuer) -> None:
    pending = await issuer.cardholder("card-p", "AB120002")
    rejected = await issuer.cardholder("card-r", "AB120001")
    for holder in (pending, rejected):
        response = await issuer.client.post(
            "/issuer/v1/cards",
            json={"cardholder_token": holder["token"], "reference": "card-p", "currency": "KES"},
            headers={"Idempotency-Key": f"card-{holder['token']}"},
        )
        assert response.status_code == 409
        assert response.json()["error"] == "kyc_not_approved"
    unknown = await issuer.client.post(
        "/issuer/v1/cards",
        json={"cardholder_token": "chd_nobody", "reference": "card-p", "currency": "KES"},
        headers={"Idempotency-Key": "card-nobody"},
    )
    assert unknown.status_code == 404

    async def approved() -> bool:
        holder = await issuer.get(f"/issuer/v1/cardholders/{pending['token']}")
        return bool(holder["kyc_status"] == "APPROVED")

    await wait_until(approved, PATIENCE, "the review")
    card = await issuer.card("card-p", holder=pending["token"])
    assert card["state"] == "OPEN"
    assert await issuer.admin_get("/cards") != []


async def test_cards_never_show_their_number_or_cvv(issuer: Issuer) -> None:
    holder = await issuer.cardholder()
    body = {
        "cardholder_token": holder["token"],
        "reference": "card-abc",
        "currency": "KES",
        "expiry_months": 12,
    }
    headers = {"Idempotency-Key": "card-1"}
    created = await issuer.client.post("/issuer/v1/cards", json=body, headers=headers)
    assert created.status_code == 201
    card = created.json()
    assert set(card) == {
        "token",
        "reference",
        "cardholder_token",
        "last_four",
        "exp_month",
        "exp_year",
        "currency",
        "state",
        "created",
    }
    assert (card["reference"], card["currency"], card["state"]) == ("card-abc", "KES", "OPEN")
    assert 1 <= card["exp_month"] <= 12 and card["exp_year"] >= 2025

    stored = issuer.state.store.cards.get(card["token"])
    assert stored is not None
    pan, cvv = stored.pan, stored.cvv
    assert len(pan) == 16 and pan.startswith("400000") and pan.endswith(card["last_four"])
    assert luhn_check_digit(pan[:-1]) == pan[-1]
    assert len(cvv) == 3

    repeat = await issuer.client.post("/issuer/v1/cards", json=body, headers=headers)
    assert (repeat.status_code, repeat.json()) == (200, card)
    reused = await issuer.client.post(
        "/issuer/v1/cards", json={**body, "currency": "UGX"}, headers=headers
    )
    assert reused.status_code == 409
    closed = await issuer.client.post(f"/issuer/v1/cards/{card['token']}/close")
    assert closed.json()["state"] == "CLOSED"
    closed_again = await issuer.client.post(f"/issuer/v1/cards/{card['token']}/close")
    assert (closed_again.status_code, closed_again.json()["state"]) == (200, "CLOSED")

    answers: list[str] = [
        created.text,
        repeat.text,
        closed.text,
        (await issuer.client.get(f"/issuer/v1/cards/{card['token']}")).text,
    ]
    (admin_card,) = await issuer.admin_get("/cards")
    assert admin_card["pan_masked"] == mask_pan(pan)
    assert re.fullmatch(r"4000 00\*\* \*\*\*\* [0-9]{4}", admin_card["pan_masked"])
    answers.append(json.dumps(admin_card))
    for text in answers:
        assert pan not in text and pan[6:12] not in text
        assert '"cvv"' not in text and cvv not in json.loads(text).values()


async def test_unknown_records_are_404s(issuer: Issuer) -> None:
    for path in (
        "/issuer/v1/cardholders/chd_x",
        "/issuer/v1/cards/crd_x",
        "/issuer/v1/transactions/txn_x",
    ):
        response = await issuer.client.get(path)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
    close = await issuer.client.post("/issuer/v1/cards/crd_x/close")
    assert close.status_code == 404


async def test_notifications_are_recorded_once_per_key(issuer: Issuer) -> None:
    body: dict[str, Any] = {
        "card_reference": "card-abc",
        "kind": "low_balance",
        "balance": 5000,
        "currency": "KES",
        "threshold": 10000,
        "idempotency_key": "low-1",
    }
    first = await issuer.client.post("/issuer/v1/notifications", json=body)
    assert first.status_code == 201
    again = await issuer.client.post("/issuer/v1/notifications", json=body)
    assert (again.status_code, again.json()) == (200, first.json())
    bad = await issuer.client.post("/issuer/v1/notifications", json={**body, "kind": "other"})
    assert bad.status_code == 422
    (recorded,) = await issuer.admin_get("/notifications")
    assert {key: recorded[key] for key in body} == body


async def test_the_api_docs_list_the_issuer_and_its_magic_values(issuer: Issuer) -> None:
    spec = await issuer.admin.get("/openapi.json")
    assert spec.status_code == 200
    document = spec.json()
    assert "/issuer/v1/cardholders" in document["paths"]
    assert "/admin/issuer/purchases" in document["paths"]
    assert "`0002` | review_approved" in document["info"]["description"]
