"""The admin API: shop payments, late payments, history, notifications, retries, resends."""

from __future__ import annotations

import pytest

from tests.sandbox.cash.support import (
    PATIENCE,
    CashSandbox,
    Network,
    event_id,
    parse_time,
    running_cash,
)
from tests.sandbox.support import WebhookReceiver, wait_until


@pytest.mark.parametrize("name", ["efecty", "oxxo"])
async def test_a_shop_payment_by_voucher_reference_is_confirmed_later(name: str) -> None:
    # A voucher that outlives a loaded machine's pauses: paid, then confirmed, well
    # before it could expire.
    timings = {"voucher_lifetime_seconds": 10.0}
    async with running_cash(efecty=timings, oxxo=timings) as cash:
        await _pay_by_voucher_reference(cash.network(name))


async def _pay_by_voucher_reference(network: Network) -> None:
    answer = await network.issue("cash-order-m")
    code = (
        str(answer["transactionResponse"]["extraParameters"]["REFERENCE"])
        if network.name == "efecty"
        else answer["next_action"]["oxxo_display_details"]["number"]
    )
    paid = await network.pay(code)
    assert paid.status_code == 200, paid.text
    view = paid.json()
    assert (view["status"], view["voucher_reference"]) == ("PENDING", code)
    assert [kind for kind, _ in view["plan"]] == ["confirm", "expire"]
    # Pending until the network confirms it; then approved with the shop's time.
    status = (await network.status("cash-order-m")).json()
    assert "PENDING" in str(status) or status.get("status") == "requires_action"
    await network.wait_for_state("cash-order-m", "APPROVED")
    done = await network.voucher("cash-order-m")
    assert done["paid_at"] == view["paid_at"]
    assert parse_time(done["confirmed_at"]) > parse_time(done["paid_at"])
    assert [entry["event"] for entry in done["history"]] == [
        "created",
        "paid",
        "confirmed",
        "notification",
    ]
    assert (await network.pay("cash-order-m")).status_code == 409


async def test_a_payment_after_the_expiry_is_accepted_late(network: Network) -> None:
    await network.issue("cash-order-x")
    await network.wait_for_state("cash-order-x", "EXPIRED")
    paid = await network.pay("cash-order-x")
    assert paid.status_code == 200
    assert paid.json()["paid_after_expiry"] is True
    await network.wait_for_state("cash-order-x", "APPROVED")
    bodies = await network.wait_for_notifications(2)
    assert len({event_id(network, body) for body in bodies}) == 2
    if network.name == "efecty":
        assert [body["state_pol"] for body in bodies] == ["5", "4"]
        assert parse_time(bodies[1]["payment_date"]) > parse_time(bodies[1]["expiration_date"])
    else:
        intent = (await network.status("cash-order-x")).json()
        paid_at = parse_time(intent["latest_charge"]["paid_at"])
        expires = parse_time(intent["next_action"]["oxxo_display_details"]["expires_after"])
        assert (intent["status"], paid_at > expires) == ("succeeded", True)


async def test_notifications_are_resent_on_demand(network: Network) -> None:
    await network.issue("cash-order-r", "02")
    (first,) = await network.wait_for_notifications(1)
    original = event_id(network, first)
    resent = await network.admin.post(f"/admin/{network.name}/notifications/{original}/resend")
    assert resent.status_code == 202
    assert resent.json()["event_id"] == original
    fresh = await network.admin.post(f"/admin/{network.name}/vouchers/cash-order-r/notifications")
    assert fresh.status_code == 202 and fresh.json()["event_id"] != original
    bodies = await network.wait_for_notifications(3)
    requests = network.notifications()
    assert requests[0].content == requests[1].content
    assert event_id(network, bodies[2]) == fresh.json()["event_id"]
    for request in requests:
        network.verify(request)
    missing = await network.admin.post(f"/admin/{network.name}/notifications/evt_none/resend")
    assert missing.status_code == 404
    await network.issue("cash-order-p")
    pending = await network.admin.post(f"/admin/{network.name}/vouchers/cash-order-p/notifications")
    assert pending.status_code == 409
    log = (await network.admin.get(f"/admin/{network.name}/webhooks")).json()
    assert {entry["key"] for entry in log} == {"cash-order-r"}


async def test_the_lost_notification_can_be_sent_by_hand(network: Network) -> None:
    await network.issue("cash-order-l", "06")
    await network.wait_for_state("cash-order-l", "APPROVED")
    assert network.notifications() == []
    sent = await network.admin.post(f"/admin/{network.name}/vouchers/cash-order-l/notifications")
    assert sent.status_code == 202
    await network.wait_for_notifications(1)


@pytest.mark.parametrize(("name", "attempts"), [("efecty", 9), ("oxxo", 4)])
async def test_a_refused_notification_is_retried_then_given_up(name: str, attempts: int) -> None:
    """Efecty attempts 9 times in all (PayU's limit); OXXO as configured."""
    receiver = WebhookReceiver(always_status=500)
    delays = {"webhook_retry_delays": [0.01] * 3}
    async with running_cash(
        receiver, efecty={"webhook_retry_delays": [0.01] * 20}, oxxo=delays
    ) as cash:
        network = cash.network(name)
        await network.issue("cash-order-f", "02")

        async def given_up() -> bool:
            log = (await network.admin.get(f"/admin/{name}/webhooks")).json()
            return bool(log) and log[0]["gave_up"]

        await wait_until(given_up, PATIENCE, "the notification to be given up")
        (delivery,) = (await network.voucher("cash-order-f"))["notifications"]
        assert (delivery["attempts"], delivery["last_http_status"]) == (attempts, 500)
        assert len(receiver.requests) == attempts
        for request in receiver.requests:
            network.verify(request)
        # Every attempt is the same body, freshly signed.
        assert len({request.content for request in receiver.requests}) == 1


def test_efecty_makes_nine_attempts_at_most() -> None:
    from tests.sandbox.cash.support import efecty_config

    assert efecty_config(webhook_retry_delays=[1.0] * 12).webhook_retry_delays == [1.0] * 8


async def test_oxxo_signs_every_delivery_of_an_event_with_its_id(cash: CashSandbox) -> None:
    await cash.oxxo.issue("cash-order-d", "05")
    await cash.oxxo.wait_for_notifications(3)
    ids = [request.headers["webhook-id"] for request in cash.oxxo.notifications()]
    bodies = cash.oxxo.bodies()
    assert ids == [body["id"] for body in bodies]


async def test_reset_forgets_every_voucher(network: Network) -> None:
    await network.issue("cash-order-1")
    assert (await network.admin.post(f"/admin/{network.name}/reset")).json() == {"reset": True}
    assert (await network.admin.get(f"/admin/{network.name}/vouchers")).json() == []
