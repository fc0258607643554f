"""Every magic value on both cash networks, on fast timings: a voucher lives 0.4 s."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from payments_engine.sandbox.bank.scenarios import markdown_table as bank_markdown_table
from payments_engine.sandbox.cash.scenarios import VoucherScenario, markdown_table, scenario_for
from tests.sandbox.cash.support import (
    PATIENCE,
    CashSandbox,
    Network,
    event_id,
    parse_time,
    reference_of,
    running_cash,
)
from tests.sandbox.support import check_scenario_docs, wait_until

MAGIC = ["01", "02", "03", "04", "05", "06", "07", "00"]
"""The scenarios that issue a voucher (``08`` refuses it); ``00`` is a manual one."""


def test_the_scenarios_are_documented_and_chosen_by_the_documents_last_two_digits() -> None:
    check_scenario_docs(VoucherScenario, markdown_table())
    assert scenario_for("1020304001") is VoucherScenario.PAID
    assert scenario_for("GODE561231HDFRRN08") is VoucherScenario.PAYER_BLOCKED
    assert scenario_for("900.123.401-7") is VoucherScenario.MANUAL  # ...4017: "17"
    assert scenario_for("X") is VoucherScenario.MANUAL


async def _notifications_of(network: Network, reference: str) -> list[dict[str, Any]]:
    return [body for body in network.bodies() if reference_of(network, body) == reference]


async def _run_every_scenario(network: Network) -> None:
    """Create one voucher per magic value, watch them end, check each one's story."""
    refs = {magic: f"cash-order-{network.name}-{magic}" for magic in MAGIC}
    answers = {magic: await network.issue(ref, magic) for magic, ref in refs.items()}
    assert len(answers) == len(MAGIC)

    # 07: paid at the shop soon, confirmed only well after the expiry: meanwhile it is
    # pending to the status API and a cancel is refused as paid.
    slow = refs["07"]

    async def slow_paid() -> bool:
        return (await network.voucher(slow))["paid_at"] is not None

    await wait_until(slow_paid, PATIENCE, "07 paid at the shop")
    refused = await network.cancel(slow)
    assert refused.status_code == 409, refused.text
    assert (await network.voucher(slow))["status"] == "PENDING"

    finals = {
        "01": "APPROVED",
        "02": "EXPIRED",
        "03": "APPROVED",
        "04": "APPROVED",
        "05": "APPROVED",
        "06": "APPROVED",
        "07": "APPROVED",
        "00": "EXPIRED",
    }
    await asyncio.gather(
        *(network.wait_for_state(refs[magic], state) for magic, state in finals.items())
    )
    views = {magic: await network.voucher(ref) for magic, ref in refs.items()}

    # Paid ones: the payment time is the shop's, before the expiry (04's after it).
    for magic in ("01", "03", "05", "06", "07"):
        view = views[magic]
        paid, expires = parse_time(view["paid_at"]), parse_time(view["expires_at"])
        assert paid < expires, magic
        assert not view["paid_after_expiry"]
        assert view["executed"] and view["fee_minor"] is not None
    assert parse_time(views["07"]["confirmed_at"]) > parse_time(views["07"]["expires_at"])
    three = views["03"]
    # One second before the expiry, or at creation when the voucher lives less than that.
    expected = max(
        parse_time(three["created_at"]), parse_time(three["expires_at"]) - timedelta(seconds=1)
    )
    assert abs(parse_time(three["paid_at"]) - expected) < timedelta(milliseconds=5)

    late = views["04"]
    assert late["paid_after_expiry"] and late["status"] == "APPROVED"
    assert parse_time(late["paid_at"]) > parse_time(late["expires_at"])
    events = [entry["event"] for entry in late["history"]]
    assert events[:3] == ["created", "expired", "notification"]
    assert events.index("paid") < events.index("confirmed")
    assert "late payment" in next(e["detail"] for e in late["history"] if e["event"] == "paid")

    for magic in ("02", "00"):
        view = views[magic]
        assert view["paid_at"] is None and view["closed_at"] == view["expires_at"]

    # The status API agrees with the admin view.
    for magic, ref in refs.items():
        response = await network.status(ref)
        assert response.status_code == 200, (magic, response.text)

    # Notifications: final states only, signed, carrying our reference.
    expected_counts = {"01": 1, "02": 1, "03": 1, "04": 2, "05": 3, "06": 0, "07": 1, "00": 1}
    total = sum(expected_counts.values())
    await network.wait_for_notifications(total)
    for request in network.notifications():
        network.verify(request)
    for magic, count in expected_counts.items():
        bodies = await _notifications_of(network, refs[magic])
        assert len(bodies) == count, (magic, bodies)
    lost = views["06"]
    assert "notification_lost" in [entry["event"] for entry in lost["history"]]
    assert lost["notifications"] == []

    duplicated = [r for r in network.notifications() if refs["05"].encode() in r.content]
    ids = [event_id(network, body) for body in await _notifications_of(network, refs["05"])]
    assert ids[0] == ids[1] != ids[2]
    assert duplicated[0].content == duplicated[1].content

    four = [event_id(network, body) for body in await _notifications_of(network, refs["04"])]
    assert len(set(four)) == 2


async def test_every_magic_value_on_both_networks(cash: CashSandbox) -> None:
    await asyncio.gather(_run_every_scenario(cash.efecty), _run_every_scenario(cash.oxxo))


async def test_a_refused_payer_gets_no_voucher_every_time(network: Network) -> None:
    ref = "cash-order-blocked"
    for _ in range(2):
        response = await network.create(ref, "08")
        assert response.status_code == (422 if network.name == "efecty" else 402)
        body = response.json()
        code = body["error"] if network.name == "efecty" else body["error"]["code"]
        assert code.lower() == "payer_blocked"
    assert (await network.status(ref)).status_code == 404
    view = await network.voucher(ref)
    assert (view["status"], view["voucher_reference"], view["submit_count"]) == (
        "DECLINED",
        None,
        2,
    )
    assert (await network.pay(ref)).status_code == 404


async def test_notifications_say_what_each_network_says(cash: CashSandbox) -> None:
    """Efecty's carries the state and amounts; OXXO's only our reference and an id."""
    await cash.efecty.issue("cash-order-e", "01", value="120010")
    await cash.oxxo.issue("cash-order-o", "01", amount="1234.56")
    (efecty,) = await cash.efecty.wait_for_notifications(1)
    (oxxo,) = await cash.oxxo.wait_for_notifications(1)
    voucher = await cash.efecty.voucher("cash-order-e")
    assert efecty == {
        "notification_id": efecty["notification_id"],
        "merchant_id": "508029",
        "reference_sale": "cash-order-e",
        "reference_pol": str(voucher["order_number"]),
        "transaction_id": voucher["network_id"],
        "state_pol": "4",
        "response_code_pol": "1",
        "response_message_pol": "APPROVED",
        "payment_method_name": "EFECTY",
        "value": "120010",
        "currency": "COP",
        # 2.9 % of 120,010 is 3,480.29: whole pesos, rounded half up.
        "commision_pol": "3480",
        "payment_reference": voucher["voucher_reference"],
        "transaction_date": efecty["transaction_date"],
        "payment_date": efecty["payment_date"],
        "expiration_date": efecty["expiration_date"],
    }
    assert efecty["payment_date"].endswith("-05:00")
    paid_at = parse_time(voucher["paid_at"])
    assert abs(parse_time(efecty["payment_date"]) - paid_at) < timedelta(milliseconds=1)
    assert set(oxxo) == {"id", "object", "type", "created", "data"}
    assert oxxo["data"] == {"reference": "cash-order-o"}
    assert oxxo["type"] == "payment_intent.updated"
    # OXXO's fee: 3.6 % of 1,234.56 is 44.44416: rounded to the centavo.
    assert (await cash.oxxo.voucher("cash-order-o"))["fee_minor"] == 4444
    # The float holds each payment less its fee.
    floats = cash.efecty.store.balances()
    assert floats["COP"] == 10**12 + 12_001_000 - 348_000
    assert cash.oxxo.store.balances()["MXN"] == 10**12 + 123_456 - 4444


async def test_both_networks_list_the_same_scenarios(cash: CashSandbox) -> None:
    efecty = (await cash.efecty.admin.get("/admin/efecty/scenarios")).json()
    oxxo = (await cash.oxxo.admin.get("/admin/oxxo/scenarios")).json()
    assert efecty == oxxo
    assert [s["suffix"] for s in efecty][:8] == ["01", "02", "03", "04", "05", "06", "07", "08"]


async def test_a_payment_just_before_the_expiry_is_confirmed_after_it() -> None:
    """``03`` with a confirmation slower than the second left: pending past the expiry
    (not expired), then approved with the payment time before it."""
    # Two seconds between the expiry and the confirmation: a loaded machine still looks
    # in between.
    timings = {"voucher_lifetime_seconds": 1.1, "confirmation_delay_seconds": 3.1}
    async with running_cash(efecty=timings, oxxo=timings) as cash:
        networks = (cash.efecty, cash.oxxo)
        for network in networks:
            await network.issue(f"cash-order-{network.name}", "03")
        views = [await network.voucher(f"cash-order-{network.name}") for network in networks]
        last = max(parse_time(view["expires_at"]) for view in views)
        await wait_until(lambda: cash.efecty.store.now() > last, PATIENCE, "the expiries")
        for network in networks:
            assert (await network.voucher(f"cash-order-{network.name}"))["status"] == "PENDING"
        for network in networks:
            ref = f"cash-order-{network.name}"
            await network.wait_for_state(ref, "APPROVED")
            view = await network.voucher(ref)
            expires, paid = parse_time(view["expires_at"]), parse_time(view["paid_at"])
            assert abs(expires - timedelta(seconds=1) - paid) < timedelta(milliseconds=5)
            assert parse_time(view["confirmed_at"]) > expires


def test_the_readme_lists_the_cash_and_bank_magic_values() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert markdown_table() in readme
    assert bank_markdown_table() in readme
