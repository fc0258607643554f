"""What follows a purchase: captures, reversals, expiry, refunds, force posts, their webhooks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.sandbox.issuer.support import (
    PATIENCE,
    EngineDouble,
    Issuer,
    decline,
    running_issuer,
    verify,
)
from tests.sandbox.support import wait_until

EVENT_FIELDS = {
    "type",
    "event_id",
    "card_reference",
    "card_token",
    "transaction_token",
    "transaction_type",
    "authorization_id",
    "amount",
    "currency",
    "created",
}


async def _post(issuer: Issuer, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return await issuer.admin.post(f"/admin/issuer{path}", json=body)


async def _created(issuer: Issuer, path: str, body: dict[str, Any] | None = None) -> Any:
    response = await _post(issuer, path, body)
    assert response.status_code == 201, response.text
    return response.json()


async def _refused(issuer: Issuer, path: str, body: dict[str, Any] | None, error: str) -> None:
    response = await _post(issuer, path, body)
    assert response.status_code == 409, response.text
    assert response.json()["error"] == error


async def _check_events(issuer: Issuer, transactions: list[dict[str, Any]]) -> None:
    """Each transaction has one signed webhook, and reads back as it was created."""
    wanted = {transaction["token"] for transaction in transactions}
    # Earlier transactions of the test have webhooks too: wait for these ones.
    await wait_until(
        lambda: wanted <= {e.get("transaction_token") for e in issuer.engine.events()},
        PATIENCE,
        f"the webhooks of {sorted(wanted)}",
    )
    by_token = {event["transaction_token"]: event for event in issuer.engine.events()}
    for transaction in transactions:
        event = by_token[transaction["token"]]
        assert set(event) == EVENT_FIELDS and event["type"] == "card.transaction"
        assert event["transaction_type"] == transaction["type"]
        for key in ("card_token", "card_reference", "authorization_id", "amount", "currency"):
            assert event[key] == transaction[key]
        read = await issuer.get(f"/issuer/v1/transactions/{transaction['token']}")
        assert read == transaction
    for request in issuer.engine.accepted:
        verify(request)
        assert request.headers["webhook-id"] == json.loads(request.content)["event_id"]


async def test_several_captures_within_the_over_capture_tolerance(issuer: Issuer) -> None:
    await issuer.card()
    auth = (await issuer.purchase("card-abc", 1000))["authorization_id"]
    path = f"/authorizations/{auth}/captures"
    first = await _created(issuer, path, {"amount": 400})
    assert set(first) == {
        "token",
        "type",
        "card_token",
        "card_reference",
        "authorization_id",
        "amount",
        "currency",
        "merchant",
        "created",
    }
    assert (first["type"], first["amount"], first["authorization_id"]) == ("CAPTURE", 400, auth)
    assert first["merchant"] == {"name": "Sandbox shop", "mcc": "5411", "country": "KE"}
    rest = await _created(issuer, path)  # default: the approved amount not yet captured
    assert rest["amount"] == 600
    await _refused(issuer, path, None, "nothing_to_capture")
    tip = await _created(issuer, path, {"amount": 200})  # 1200: 20 % over, the limit
    await _refused(issuer, path, {"amount": 1}, "over_capture")
    await _refused(issuer, path, {"amount": 0}, "amount_not_positive")
    await _refused(issuer, path, {"amount": -5}, "amount_not_positive")
    record = await issuer.admin_get(f"/authorizations/{auth}")
    assert (record["captured"], record["held"]) == (1200, 0)
    await _check_events(issuer, [first, rest, tip])
    assert len(await issuer.admin_get("/transactions")) == 3


async def test_a_capture_beyond_the_tolerance_at_once_is_refused(issuer: Issuer) -> None:
    await issuer.card()
    auth = (await issuer.purchase("card-abc", 1000))["authorization_id"]
    await _refused(issuer, f"/authorizations/{auth}/captures", {"amount": 1201}, "over_capture")
    assert await issuer.admin_get("/transactions") == []


async def test_reversals_partial_full_and_too_much(issuer: Issuer) -> None:
    await issuer.card()
    auth = (await issuer.purchase("card-abc", 1000))["authorization_id"]
    path = f"/authorizations/{auth}/reversals"
    await _created(issuer, f"/authorizations/{auth}/captures", {"amount": 300})
    await _refused(issuer, path, {"amount": 701}, "above_held")
    partial = await _created(issuer, path, {"amount": 200})
    assert (partial["type"], partial["amount"]) == ("REVERSAL", 200)
    rest = await _created(issuer, path)  # default: everything still held
    assert rest["amount"] == 500
    await _refused(issuer, path, None, "nothing_held")
    await _refused(issuer, f"/authorizations/{auth}/expiry", None, "nothing_held")
    record = await issuer.admin_get(f"/authorizations/{auth}")
    assert (record["captured"], record["reversed"], record["held"]) == (300, 700, 0)
    await _check_events(issuer, [partial, rest])


async def test_expiry_releases_what_is_held(issuer: Issuer) -> None:
    await issuer.card()
    auth = (await issuer.purchase("card-abc", 1000))["authorization_id"]
    await _created(issuer, f"/authorizations/{auth}/captures", {"amount": 250})
    expiry = await _created(issuer, f"/authorizations/{auth}/expiry")
    assert (expiry["type"], expiry["amount"], expiry["authorization_id"]) == ("EXPIRY", 750, auth)
    record = await issuer.admin_get(f"/authorizations/{auth}")
    assert (record["expired"], record["held"]) == (750, 0)
    await _check_events(issuer, [expiry])


async def test_declined_and_unknown_authorizations(issuer: Issuer) -> None:
    async with running_issuer(EngineDouble(answer=decline)) as declining:
        await declining.card()
        auth = (await declining.purchase("card-abc"))["authorization_id"]
        for action in ("captures", "reversals", "expiry"):
            await _refused(
                declining, f"/authorizations/{auth}/{action}", None, "authorization_declined"
            )
    for action in ("captures", "reversals", "expiry"):
        response = await _post(issuer, f"/authorizations/auth_nope/{action}")
        assert response.status_code == 404


async def test_refunds_and_force_captures_have_no_authorization(issuer: Issuer) -> None:
    card = await issuer.card("card-abc")
    refund = await _created(
        issuer, "/cards/card-abc/refunds", {"amount": 500, "merchant_name": "Naivas"}
    )
    assert (refund["type"], refund["amount"], refund["authorization_id"]) == ("REFUND", 500, None)
    assert refund["merchant"]["name"] == "Naivas" and refund["card_token"] == card["token"]
    forced = await _created(issuer, f"/cards/{card['token']}/force-captures", {"amount": 700})
    assert (forced["type"], forced["authorization_id"], forced["currency"]) == (
        "CAPTURE",
        None,
        "KES",
    )
    await _refused(issuer, "/cards/abc/refunds", {"amount": 0}, "amount_not_positive")
    missing = await _post(issuer, "/cards/card-nope/force-captures", {"amount": 1})
    assert missing.status_code == 404
    await _check_events(issuer, [refund, forced])


async def test_webhooks_are_retried_and_resent_under_the_same_webhook_id() -> None:
    async with running_issuer(EngineDouble(webhook_failures=2)) as issuer:
        await issuer.card()
        refund = await _created(issuer, "/cards/card-abc/refunds", {"amount": 100})
        (event,) = await issuer.wait_for_events(1)
        assert len(issuer.engine.webhooks) == 3
        ids = {request.headers["webhook-id"] for request in issuer.engine.webhooks}
        assert ids == {event["event_id"]}

        resent = await _post(issuer, f"/events/{event['event_id']}/resend")
        assert resent.status_code == 200 and resent.json()["event_id"] == event["event_id"]
        events = await issuer.wait_for_events(2)
        assert events[0] == events[1]
        assert issuer.engine.accepted[1].headers["webhook-id"] == event["event_id"]
        log = await issuer.admin_get("/webhooks")
        assert [(d["attempts"], d["delivered"]) for d in log] == [(3, True), (1, True)]
        assert log[0]["record_id"] == refund["token"]
        unknown = await _post(issuer, "/events/evt_nope/resend")
        assert unknown.status_code == 404


async def test_the_state_file_keeps_everything(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox.db"
    first, second = EngineDouble(), EngineDouble()
    async with running_issuer(first, state_file=state_file, kyc_review_seconds=0.5) as issuer:
        card = await issuer.card()
        pending = await issuer.cardholder("card-p", "AB120002")
        auth = (await issuer.purchase("card-abc", 1000))["authorization_id"]
        capture = await _created(issuer, f"/authorizations/{auth}/captures", {"amount": 400})
        await issuer.client.post(
            "/issuer/v1/notifications",
            json={
                "card_reference": "card-abc",
                "kind": "low_balance",
                "balance": 1,
                "currency": "KES",
                "threshold": 2,
                "idempotency_key": "n-1",
            },
        )
        await issuer.wait_for_events(1)
        before = {
            path: await issuer.admin_get(path)
            for path in ("/cards", "/authorizations", "/transactions", "/notifications")
        }

    async with running_issuer(second, state_file=state_file) as again:
        for path, listed in before.items():
            assert await again.admin_get(path) == listed
        assert (await again.get(f"/issuer/v1/cards/{card['token']}"))["state"] == "OPEN"
        assert await again.get(f"/issuer/v1/transactions/{capture['token']}") == capture

        # A review pending when the first app stopped is decided after the restart (or
        # was before it, on a slow machine); its webhook goes out either way.
        async def reviewed() -> bool:
            holder = await again.get(f"/issuer/v1/cardholders/{pending['token']}")
            kyc_events = [
                event
                for event in first.events() + second.events()
                if event["type"] == "cardholder.kyc_updated"
            ]
            return holder["kyc_status"] == "APPROVED" and len(kyc_events) >= 1

        await wait_until(reviewed, PATIENCE, "the review after a restart")
        stored = again.state.store.cards.get(card["token"])
        assert stored is not None and stored.pan.endswith(card["last_four"])
        more = await _created(again, f"/authorizations/{auth}/captures")
        assert more["amount"] == 600


async def test_faults_and_reset(issuer: Issuer) -> None:
    await issuer.card()
    faults = await issuer.admin.put(
        "/admin/issuer/faults", json={"duplicate_webhooks": True, "error_rate": 1.0}
    )
    assert faults.status_code == 200
    unavailable = await issuer.client.get("/issuer/v1/cards/crd_x")
    assert (unavailable.status_code, unavailable.json()["error"]) == (503, "service_unavailable")
    await _created(issuer, "/cards/card-abc/refunds", {"amount": 100})
    first, second = await issuer.wait_for_events(2)
    assert first == second
    assert len({r.headers["webhook-id"] for r in issuer.engine.accepted}) == 1

    assert (await issuer.admin.post("/admin/issuer/reset")).json() == {"reset": True}
    for path in ("/cards", "/cardholders", "/authorizations", "/transactions", "/webhooks"):
        assert await issuer.admin_get(path) == []
    assert (await issuer.client.get("/issuer/v1/cards/crd_x")).status_code == 404
    scenarios = await issuer.admin_get("/scenarios")
    assert {s["suffix"] for s in scenarios} == {"0001", "0002", "0003", None}
