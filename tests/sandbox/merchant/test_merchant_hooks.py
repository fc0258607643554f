"""The merchant recorder: stock holds and releases once per idempotency key, and alerts."""

from __future__ import annotations

from pathlib import Path

import pytest

from payments_engine.sandbox.app import create_sandbox_app
from tests.sandbox.merchant.support import (
    ALERTS,
    HOLDS,
    RELEASES,
    Merchant,
    hold_body,
    key,
    release_body,
    running_merchant,
)
from tests.sandbox.support import make_config


async def test_a_hold_is_recorded(merchant: Merchant) -> None:
    response = await merchant.hold()
    assert response.status_code == 200
    assert response.json() == {"order_id": "co-1", "status": "held", "calls": 1}

    (order,) = await merchant.stock()
    assert (order["order_id"], order["merchant_id"], order["merchant_reference"]) == (
        "co-1",
        "shop-1",
        "ORDER-42",
    )
    assert order["status"] == "held"
    assert order["held_at"] is not None and order["released_at"] is None
    assert order["until"] == "2026-11-27T23:59:00Z"
    assert (order["hold_calls"], order["release_calls"]) == (1, 0)
    assert order["calls"][0]["idempotency_key"] == "cash-order-co-1:hold"


async def test_a_repeated_hold_is_a_recorded_repeat_that_holds_once(merchant: Merchant) -> None:
    first = (await merchant.hold()).json()
    held_at = (await merchant.stock())[0]["held_at"]
    second = await merchant.hold()

    assert second.status_code == 200
    assert (first["calls"], second.json()["calls"]) == (1, 2)
    (order,) = await merchant.stock()
    assert order["hold_calls"] == 2
    assert order["held_at"] == held_at
    assert [call["repeat"] for call in order["calls"]] == [False, True]


async def test_a_release_after_a_hold(merchant: Merchant) -> None:
    await merchant.hold()
    released = await merchant.release()
    assert released.json() == {"order_id": "co-1", "status": "released", "calls": 1}
    again = await merchant.release(reason="something else")
    assert again.json()["calls"] == 2

    (order,) = await merchant.stock()
    assert order["status"] == "released"
    assert order["held_at"] is not None and order["released_at"] is not None
    # The first release's reason: a repeat changes nothing.
    assert (order["reason"], order["release_calls"], order["hold_calls"]) == ("expired", 2, 1)
    assert [call["action"] for call in order["calls"]] == ["held", "released", "released"]


async def test_a_release_of_an_order_never_held_is_recorded(merchant: Merchant) -> None:
    response = await merchant.release("co-never")
    assert response.status_code == 200
    assert response.json() == {"order_id": "co-never", "status": "released", "calls": 1}
    (order,) = await merchant.stock()
    assert (order["held_at"], order["hold_calls"]) == (None, 0)
    assert order["released_at"] is not None and order["status"] == "released"


async def test_a_hold_without_reference_or_until(merchant: Merchant) -> None:
    response = await merchant.hold(merchant_reference=None, until=None)
    assert response.status_code == 200
    order = (await merchant.client.get("/admin/merchant/stock/co-1")).json()
    assert (order["merchant_reference"], order["until"]) == (None, None)
    assert (await merchant.client.get("/admin/merchant/stock/co-x")).status_code == 404


async def test_alerts_are_recorded_once_per_key(merchant: Merchant) -> None:
    alert = {
        "kind": "paid_after_expiry",
        "subject": "Order co-1 was paid after it expired",
        "message": "Decide whether to ship or refund.",
        "details": {"order_id": "co-1", "amount": "50000.00 COP"},
    }
    headers = {"Idempotency-Key": "alert-co-1"}
    first = await merchant.client.post(ALERTS, json=alert, headers=headers)
    second = await merchant.client.post(ALERTS, json=alert, headers=headers)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["calls"], second.json()["calls"]) == (1, 2)
    other = await merchant.client.post(ALERTS, json=alert, headers={"Idempotency-Key": "other"})
    assert other.json()["calls"] == 1

    alerts = await merchant.alerts()
    assert [(a["idempotency_key"], a["calls"]) for a in alerts] == [
        ("alert-co-1", 2),
        ("other", 1),
    ]
    assert alerts[0]["details"] == {"order_id": "co-1", "amount": "50000.00 COP"}
    assert alerts[0]["kind"] == "paid_after_expiry"


@pytest.mark.parametrize("path", [HOLDS, RELEASES, ALERTS])
async def test_every_call_needs_an_idempotency_key(merchant: Merchant, path: str) -> None:
    body = {
        HOLDS: hold_body(),
        RELEASES: release_body(),
        ALERTS: {"kind": "k", "subject": "s", "message": "m", "details": {}},
    }[path]
    response = await merchant.client.post(path, json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"
    assert await merchant.stock() == [] and await merchant.alerts() == []


async def test_a_malformed_call_is_refused(merchant: Merchant) -> None:
    response = await merchant.client.post(
        HOLDS, json={"merchant_id": "shop-1"}, headers=key("co-1", "hold")
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
    assert "order_id" in response.json()["message"]


async def test_with_an_api_key_calls_need_the_bearer_token() -> None:
    async with running_merchant(api_key="merchant-key") as merchant:
        refused = await merchant.hold()
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthorized"
    async with running_merchant(api_key="merchant-key", token="wrong") as merchant:
        assert (await merchant.hold()).status_code == 401
    async with running_merchant(api_key="merchant-key", token="merchant-key") as merchant:
        assert (await merchant.hold()).status_code == 200


async def test_a_reset_forgets_everything(merchant: Merchant) -> None:
    await merchant.hold()
    assert (await merchant.client.post("/admin/merchant/reset")).json() == {"reset": True}
    assert await merchant.stock() == []
    assert (await merchant.hold()).json()["calls"] == 1


async def test_what_it_heard_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.db"
    async with running_merchant(state_file=path) as merchant:
        await merchant.hold()
        await merchant.release("co-2")
        await merchant.client.post(
            ALERTS,
            json={"kind": "k", "subject": "s", "message": "m", "details": {"n": 1}},
            headers={"Idempotency-Key": "a-1"},
        )
        before = await merchant.stock()

    async with running_merchant(state_file=path) as merchant:
        assert await merchant.stock() == before
        # The key is still known: a repeat after the restart is a repeat.
        again = await merchant.hold()
        assert again.json()["calls"] == 2
        (order, _) = await merchant.stock()
        assert order["calls"][-1]["repeat"] is True
        assert [alert["details"] for alert in await merchant.alerts()] == [{"n": 1}]


async def test_the_app_without_a_recorder_mounts_none() -> None:
    app = create_sandbox_app(make_config())
    assert app.state.merchant is None and app.state.bank is None
    paths = {getattr(route, "path", "") for route in app.routes}
    assert not any(path.startswith(("/merchant", "/bank", "/admin/bank")) for path in paths)
    app.state.sandbox.store.close()
