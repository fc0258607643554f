"""The cash networks keep their vouchers in the state file across a restart."""

from __future__ import annotations

from pathlib import Path

from tests.sandbox.cash.support import PATIENCE, running_cash
from tests.sandbox.support import WebhookReceiver, wait_until

SLOW = {"voucher_lifetime_seconds": 30.0}
# Before the restart, a refused notification waits half a second for its next attempt:
# the app is stopped by then, and the restarted one makes it.
HELD = {**SLOW, "webhook_retry_delays": [0.5] * 8, "confirmation_delay_seconds": 0.3}


async def test_a_restart_keeps_vouchers_plans_and_notifications(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox.db"
    first_receiver = WebhookReceiver(always_status=503)
    async with running_cash(first_receiver, state_file=state_file, efecty=HELD, oxxo=HELD) as cash:
        for network in (cash.efecty, cash.oxxo):
            await network.issue("cash-order-pending")
            await network.issue("cash-order-paid")
            assert (await network.pay("cash-order-paid")).status_code == 200
            await network.wait_for_state("cash-order-paid", "APPROVED")
            await network.issue("cash-order-cancelled")
            assert (await network.cancel("cash-order-cancelled")).status_code == 200
            assert (await network.create("cash-order-blocked", "08")).status_code >= 400
            # Paid just before the stop: confirmed by the restarted network.
            await network.issue("cash-order-confirmed-later")
            assert (await network.pay("cash-order-confirmed-later")).status_code == 200
        before = {
            name: (await cash.network(name).admin.get(f"/admin/{name}/vouchers")).json()
            for name in ("efecty", "oxxo")
        }

    receiver = WebhookReceiver()
    async with running_cash(receiver, state_file=state_file, efecty=SLOW, oxxo=SLOW) as cash:
        for name in ("efecty", "oxxo"):
            network = cash.network(name)
            after = (await network.admin.get(f"/admin/{name}/vouchers")).json()
            assert [v["key"] for v in after] == [v["key"] for v in before[name]]
            statuses = [v["status"] for v in after]
            assert statuses[:4] == ["PENDING", "APPROVED", "CANCELLED", "DECLINED"]
            await network.wait_for_state("cash-order-confirmed-later", "APPROVED")
            after = (await network.admin.get(f"/admin/{name}/vouchers")).json()
            for old, new in zip(before[name], after, strict=True):
                assert (new["voucher_reference"], new["expires_at"], new["paid_at"]) == (
                    old["voucher_reference"],
                    old["expires_at"],
                    old["paid_at"],
                )
            assert (await network.status("cash-order-pending")).status_code == 200
            # The notifications refused before the restart are delivered after it.
            await network.wait_for_notifications(2)
            # The refusal is kept: a repeat is refused alike; a duplicate stays one.
            assert (await network.create("cash-order-blocked", "08")).status_code >= 400
            repeat = await network.create("cash-order-pending")
            assert repeat.status_code == (409 if name == "efecty" else 200)
            # The plan goes on: a payment now is confirmed after the restart.
            assert (await network.pay("cash-order-pending")).status_code == 200
            await network.wait_for_state("cash-order-pending", "APPROVED")
        await wait_until(lambda: len(receiver.accepted) >= 8, PATIENCE, "8 notifications")
