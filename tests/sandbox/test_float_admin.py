"""The admin route setting a simulator's float: ``GET|PUT /admin[/<sim>]/float``.

Every simulator has it (the common admin routes); the hub's admin is mounted at
``/admin``, the others' at ``/admin/<name>``. A set float shows in the balance API, pays
out like any float, is kept in the state file, and ``POST /reset`` restores the
configured one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sandbox.momo.support import running_momo
from tests.sandbox.support import Sandbox, running_sandbox


async def test_the_hub_float_is_set_in_minor_units(sandbox: Sandbox) -> None:
    response = await sandbox.admin.put("/admin/float", json={"currency": "kes", "amount": 12345})
    assert response.status_code == 200, response.text
    assert response.json()["KES"] == 12345
    assert await sandbox.balance("KES") == "123.45"
    assert (await sandbox.admin.get("/admin/float")).json()["KES"] == 12345
    # A currency without a float until now gets one.
    await sandbox.admin.put("/admin/float", json={"currency": "UGX", "amount": 0})
    assert await sandbox.balance("UGX") == "0"


async def test_a_payout_above_the_set_float_fails_for_lack_of_funds(sandbox: Sandbox) -> None:
    await sandbox.admin.put("/admin/float", json={"currency": "KES", "amount": 100_00})
    response = await sandbox.submit("pay-float-1", amount="150.00")
    assert response.status_code == 200, response.text
    await sandbox.wait_for_status("pay-float-1", "ER102")  # insufficient funds
    assert await sandbox.balance("KES") == "100.00"


@pytest.mark.parametrize(
    "body",
    [
        {"currency": "XYZ", "amount": 1},
        {"currency": "KES", "amount": -1},
        {"currency": "KES", "amount": "1.5"},
        {"currency": "KES"},
        {"currency": "KES", "amount": 1, "extra": True},
    ],
    ids=["unknown-currency", "negative", "not-minor-units", "no-amount", "extra-field"],
)
async def test_a_bad_float_setting_is_refused(sandbox: Sandbox, body: dict[str, object]) -> None:
    response = await sandbox.admin.put("/admin/float", json=body)
    assert response.status_code == 422
    assert (await sandbox.admin.get("/admin/float")).json()["KES"] == 10**12


async def test_reset_restores_the_configured_float(sandbox: Sandbox) -> None:
    await sandbox.admin.put("/admin/float", json={"currency": "KES", "amount": 1})
    assert (await sandbox.admin.post("/admin/reset")).status_code == 200
    assert await sandbox.balance("KES") == "10000000000.00"


async def test_a_set_float_is_kept_in_the_state_file(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox.db"
    async with running_sandbox(state_file=state_file) as sandbox:
        await sandbox.admin.put("/admin/float", json={"currency": "KES", "amount": 777})
    async with running_sandbox(state_file=state_file) as restarted:
        assert await restarted.balance("KES") == "7.77"


async def test_momo_float_is_set_under_its_admin_prefix() -> None:
    async with running_momo() as momo:
        response = await momo.admin.put("/admin/momo/float", json={"currency": "KES", "amount": 5})
        assert response.status_code == 200, response.text
        assert await momo.balance("KES") == "0.05"
        assert (await momo.admin.get("/admin/momo/float")).json()["KES"] == 5
