"""Daily settlement reports: formats, Range resume, reproducibility, faults, cash dates."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from payments_engine.domain.cash import settlement_time
from payments_engine.sandbox.app import create_sandbox_app
from payments_engine.sandbox.cash.records import VoucherState
from payments_engine.sandbox.cash.settlements import voucher_lines
from payments_engine.sandbox.common import settlements
from payments_engine.sandbox.common.settlements import (
    Line,
    SettlementFault,
    business_days_after,
    report_lines,
    utc_date,
)
from payments_engine.sandbox.efecty import settlements as efecty_settlements
from payments_engine.sandbox.hub import settlements as hub_settlements
from payments_engine.sandbox.hub.records import PayoutOrder
from payments_engine.sandbox.hub.wire import HubStatus
from payments_engine.sandbox.issuer import settlements as issuer_settlements
from payments_engine.sandbox.oxxo import settlements as oxxo_settlements
from tests.sandbox.bank.support import BANK_API_KEY, make_bank_config, running_bank
from tests.sandbox.cash.support import (
    EFECTY_KEY,
    OXXO_KEY,
    efecty_config,
    oxxo_config,
    running_cash,
)
from tests.sandbox.issuer.support import running_issuer
from tests.sandbox.momo.support import MOMO_API_KEY, make_momo_config, running_momo
from tests.sandbox.support import API_KEY, make_config, running_sandbox

TODAY = datetime.now(UTC).date().isoformat()
HUB = {"Authorization": f"Bearer {API_KEY}"}


def _app() -> Any:
    return create_sandbox_app(
        make_config(),
        momo=make_momo_config(),
        bank=make_bank_config(),
        efecty=efecty_config(),
        oxxo=oxxo_config(),
    )


@pytest.fixture
async def hub() -> Any:
    app = _app()
    store = app.state.sandbox.store
    for reference, amount, currency, country, final in (
        ("payout-a", 150000, "KES", "KE", HubStatus.SUCCESS),
        ("payout-b", 1500, "UGX", "UG", HubStatus.SUCCESS),
        ("payout-c", 2000, "KES", "KE", HubStatus.INSUFFICIENT_FUNDS),
    ):
        store.submit(PayoutOrder(reference, "+254712345678", country, currency, amount))
        store.force_status(reference, final)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as client:
        yield client


async def _report(client: httpx.AsyncClient, **params: str) -> httpx.Response:
    return await client.get(f"/hub/v1/settlements/{TODAY}", headers=HUB, params=params)


def _rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


async def test_hub_csv_has_its_columns_and_two_decimals(hub: httpx.AsyncClient) -> None:
    response = await _report(hub)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["accept-ranges"] == "bytes"
    rows = _rows(response.content)
    assert list(rows[0]) == list(hub_settlements.FORMAT.columns)
    by_ref = {row["thirdPartyTransId"]: row for row in rows}
    assert set(by_ref) == {"payout-a", "payout-b", "payout-c"}
    assert by_ref["payout-b"]["grossAmount"] == "1500.00"  # UGX, still two decimals
    assert by_ref["payout-a"]["grossAmount"] == "1500.00"
    assert by_ref["payout-a"]["netAmount"] == "1500.00"
    assert by_ref["payout-c"]["status"] == "failed"
    assert by_ref["payout-c"]["netAmount"] == "0.00"
    assert all(row["settlementDate"] == TODAY for row in rows)
    assert all(row["transactionTime"].endswith("Z") for row in rows)
    assert rows == sorted(rows, key=lambda row: (row["transactionTime"], row["transactionId"]))


async def test_hub_json_reproducibility_and_range(hub: httpx.AsyncClient) -> None:
    as_json = (await _report(hub, format="json")).json()
    first, second = (await _report(hub)).content, (await _report(hub)).content
    assert first == second
    assert [r["thirdPartyTransId"] for r in as_json] == [
        r["thirdPartyTransId"] for r in _rows(first)
    ]
    resumed = await hub.get(f"/hub/v1/settlements/{TODAY}", headers={**HUB, "Range": "bytes=40-"})
    assert resumed.status_code == 206
    assert resumed.content == first[40:]
    assert resumed.headers["content-range"] == f"bytes 40-{len(first) - 1}/{len(first)}"
    past = await hub.get(
        f"/hub/v1/settlements/{TODAY}", headers={**HUB, "Range": f"bytes={len(first)}-"}
    )
    assert past.status_code == 416


async def test_hub_errors_and_empty_dates(hub: httpx.AsyncClient) -> None:
    assert (await hub.get(f"/hub/v1/settlements/{TODAY}")).status_code == 401
    assert (await hub.get("/hub/v1/settlements/2024-13-01", headers=HUB)).status_code == 400
    assert (await hub.get("/hub/v1/settlements/20240101", headers=HUB)).status_code == 400
    empty = await hub.get("/hub/v1/settlements/2001-01-01", headers=HUB)
    assert empty.content.decode() == ",".join(hub_settlements.FORMAT.columns) + "\n"
    as_json = await hub.get("/hub/v1/settlements/2001-01-01?format=json", headers=HUB)
    assert as_json.json() == []
    assert (await hub.get("/admin/hub/settlements/2001-01-01")).json() == []


async def test_hub_faults_over_the_admin_api(hub: httpx.AsyncClient) -> None:
    path = f"/admin/hub/settlements/{TODAY}/faults"
    faults = [
        {"kind": "missing_line", "reference": "payout-c"},
        {"kind": "amount_difference", "reference": "payout-a", "delta": 5},
        {"kind": "fee_difference", "reference": "payout-a", "delta": 100},
        {"kind": "duplicate_line", "reference": "payout-b"},
        {"kind": "unknown_line"},
    ]
    assert (await hub.put(path, json=faults)).status_code == 200
    assert (await hub.get(path)).json() == faults
    assert (await hub.put(path, json=[{"kind": "next_day"}])).status_code == 422
    rows = _rows((await _report(hub)).content)
    refs = [row["thirdPartyTransId"] for row in rows]
    assert "payout-c" not in refs
    assert refs.count("payout-b") == 2
    assert len(refs) == 4
    a = next(row for row in rows if row["thirdPartyTransId"] == "payout-a")
    assert (a["grossAmount"], a["feeAmount"], a["netAmount"]) == ("1500.05", "1.00", "1499.05")
    admin = (await hub.get(f"/admin/hub/settlements/{TODAY}")).json()
    assert len(admin) == 4
    assert (await _report(hub)).content == (await _report(hub)).content
    assert (await hub.delete(path)).json() == []
    assert len(_rows((await _report(hub)).content)) == 3


async def test_hub_next_day_and_truncated(hub: httpx.AsyncClient) -> None:
    tomorrow = (date.fromisoformat(TODAY) + timedelta(days=1)).isoformat()
    path = f"/admin/hub/settlements/{TODAY}/faults"
    await hub.put(path, json=[{"kind": "next_day", "reference": "payout-a"}, {"kind": "truncated"}])
    today = (await _report(hub)).content
    assert not today.endswith(b"\n")
    assert b"payout-a" not in today
    later = _rows((await hub.get(f"/hub/v1/settlements/{tomorrow}", headers=HUB)).content)
    assert [row["thirdPartyTransId"] for row in later] == ["payout-a"]
    assert later[0]["settlementDate"] == tomorrow
    with pytest.raises(json.JSONDecodeError):
        json.loads((await _report(hub, format="json")).content)


# -- the common machinery, on made-up lines ---------------------------------------------

DAY = date(2025, 3, 7)  # a Friday


def _line(reference: str, minute: int, **fields: Any) -> Line:
    values: dict[str, Any] = {
        "transaction_id": f"T{minute:03d}",
        "reference": reference,
        "kind": "payout",
        "type": "payout",
        "gross": 10000,
        "fee": 100,
        "currency": "KES",
        "status": "success",
        "moved": True,
        "transaction_time": datetime(2025, 3, 7, 10, minute, tzinfo=UTC),
        "settlement_date": DAY,
        **fields,
    }
    return Line(**values)


def test_every_fault_kind_applies_deterministically() -> None:
    lines = [_line("payout-1", 1), _line("payout-2", 2), _line("payout-3", 3)]
    faults = [
        SettlementFault(kind="currency_mixup", reference="payout-1"),
        SettlementFault(kind="status_difference", reference="payout-2"),
        SettlementFault(kind="unknown_line", delta=777),
        SettlementFault(kind="missing_line", reference="payout-3"),
    ]
    fmt = hub_settlements.FORMAT
    result, truncated = report_lines(lines, DAY, lambda day: faults if day == DAY else [], fmt)
    again, _ = report_lines(lines, DAY, lambda day: faults if day == DAY else [], fmt)
    assert result == again and not truncated
    by_ref = {line.reference: line for line in result}
    assert by_ref["payout-1"].currency == "USD"
    assert by_ref["payout-2"].status == "failed"
    assert "payout-3" not in by_ref
    unknown = [line for line in result if line.reference not in {"payout-1", "payout-2"}]
    assert len(unknown) == 1 and unknown[0].gross == 777
    with pytest.raises(ValueError, match="reference"):
        SettlementFault(kind="duplicate_line")


def test_csv_truncation_cuts_inside_the_last_line() -> None:
    lines = [_line("payout-1", 1), _line("payout-2", 2)]
    fmt = hub_settlements.FORMAT
    whole = settlements.render_csv(lines, fmt, truncated=False)
    cut = settlements.render_csv(lines, fmt, truncated=True)
    last = whole.splitlines(keepends=True)[-1]
    assert whole.startswith(cut)
    assert len(whole) - len(last) < len(cut) < len(whole)


def test_number_formats() -> None:
    assert settlements.two_decimals(1500, "UGX") == "1500.00"
    assert settlements.two_decimals(-5, "KES") == "-0.05"
    assert settlements.major_amount(1500, "UGX") == "1500"
    assert settlements.major_amount(150050, "MXN") == "1500.50"
    assert settlements.whole_units(12000000, "COP") == "120000"


def test_business_days_skip_weekends_and_holidays() -> None:
    assert business_days_after(DAY, 3, "CO") == date(2025, 3, 12)  # Fri -> Wed
    # Monday 24 March 2025 is San José in Colombia, not a holiday in Mexico.
    assert business_days_after(date(2025, 3, 21), 3, "CO") == date(2025, 3, 27)
    assert business_days_after(date(2025, 3, 21), 3, "MX") == date(2025, 3, 26)


def _voucher(amount: int, fee: int, confirmed: datetime, status: VoucherState) -> Any:
    order = SimpleNamespace(reference="cash-order-1", amount=amount, currency="COP")
    return SimpleNamespace(
        status=status,
        network_id="EF123",
        order=order,
        fee=fee,
        confirmed_at=confirmed,
        paid_at=confirmed,
        updated_at=confirmed,
    )


def test_cash_lines_settle_three_business_days_later_in_whole_pesos() -> None:
    friday = datetime(2025, 3, 7, 22, 0, tzinfo=UTC)
    store = SimpleNamespace(
        transfers=lambda: [
            _voucher(12000000, 240000, friday, VoucherState.APPROVED),
            _voucher(5000000, 0, friday, VoucherState.PENDING),
        ]
    )
    (line,) = efecty_settlements.lines_of(store)  # type: ignore[arg-type]
    assert line.settlement_date == date(2025, 3, 12)
    assert line.kind == "cash_payment" and line.status == "APROBADA"
    row = efecty_settlements.FORMAT.record(line)
    assert (row["valorBruto"], row["comision"], row["valorNeto"]) == ("120000", "2400", "117600")
    (mx,) = voucher_lines(
        store,  # type: ignore[arg-type]
        oxxo_settlements.FORMAT,
        "MX",
        "succeeded",
        "America/Mexico_City",
    )
    assert oxxo_settlements.FORMAT.record(mx)["gross_amount"] == "120000.00"


def test_a_cash_payment_settles_from_its_local_day_as_the_engine_expects() -> None:
    # Monday 22:00 in Bogota is Tuesday 03:00 UTC: Monday counts, as for the engine.
    monday_night = datetime(2025, 3, 11, 3, 0, tzinfo=UTC)
    store = SimpleNamespace(
        transfers=lambda: [_voucher(12000000, 0, monday_night, VoucherState.APPROVED)]
    )
    (line,) = efecty_settlements.lines_of(store)  # type: ignore[arg-type]
    expected = settlement_time(monday_night, 3, "CO", "America/Bogota")
    assert line.settlement_date == expected.date() == date(2025, 3, 13)


# -- every provider answers, behind its own authentication ------------------------------


@pytest.mark.parametrize(
    ("path", "headers", "first_column"),
    [
        (
            "/momo/v1_0/settlements",
            {"Ocp-Apim-Subscription-Key": MOMO_API_KEY, "X-Target-Environment": "sandbox"},
            "financialTransactionId",
        ),
        ("/bank/v1/settlements", {"Authorization": f"Bearer {BANK_API_KEY}"}, "transfer_id"),
        ("/efecty/v4/settlements", {"Authorization": f"Bearer {EFECTY_KEY}"}, "idTransaccion"),
        ("/oxxo/v1/settlements", {"Authorization": f"Bearer {OXXO_KEY}"}, "payment_id"),
    ],
)
async def test_every_provider_publishes(
    path: str, headers: dict[str, str], first_column: str
) -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as client:
        assert (await client.get(f"{path}/{TODAY}")).status_code == 401
        answer = await client.get(f"{path}/{TODAY}", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.text.split(",")[0] == first_column
        assert (await client.get(f"{path}/{TODAY}?format=json", headers=headers)).json() == []
        assert (await client.get(f"{path}/yesterday", headers=headers)).status_code == 400
        name = path.split("/")[1]
        put = await client.put(
            f"/admin/{name}/settlements/{TODAY}/faults", json=[{"kind": "truncated"}]
        )
        assert put.status_code == 200


# -- real transactions, through each simulator's own API ---------------------------------


def _by_reference(body: bytes, column: str) -> dict[str, dict[str, str]]:
    return {row[column]: row for row in _rows(body)}


async def test_momo_reports_a_real_transfer() -> None:
    async with running_momo() as momo:
        reference_id, answer = await momo.transfer(external_id="payout-momo-1", amount="1500")
        assert answer.status_code == 202, answer.text
        await momo.wait_for_status(reference_id, "SUCCESSFUL")
        final = await momo.status_of(reference_id)
        transfer = momo.state.store.get(reference_id)
        assert transfer is not None
        day = utc_date(transfer.updated_at).isoformat()
        report = await momo.client.get(f"/momo/v1_0/settlements/{day}")
        assert report.status_code == 200, report.text
        row = _by_reference(report.content, "externalId")["payout-momo-1"]
    assert row["financialTransactionId"] == final["financialTransactionId"]
    assert row["transactionType"] == "DISBURSEMENT"
    assert (row["amount"], row["fee"], row["netAmount"]) == ("1500.00", "0.00", "1500.00")
    assert (row["currency"], row["status"], row["settlementDate"]) == ("KES", "SUCCESSFUL", day)


async def test_bank_reports_a_real_transfer() -> None:
    async with running_bank() as bank:
        created = await bank.created(external_id="refund-bank-1", amount="150000.50")
        await bank.wait_for_status("refund-bank-1", "SETTLED")
        transfer = bank.state.store.get("refund-bank-1")
        assert transfer is not None
        day = utc_date(transfer.updated_at).isoformat()
        report = await bank.client.get(f"/bank/v1/settlements/{day}")
        assert report.status_code == 200, report.text
        row = _by_reference(report.content, "external_id")["refund-bank-1"]
    assert row["transfer_id"] == created["id"]
    assert row["operation"] == "CREDIT_TRANSFER"
    assert (row["amount"], row["fee"], row["net_amount"]) == ("150000.50", "0.00", "150000.50")
    assert (row["currency"], row["status"], row["settlement_date"]) == ("COP", "SETTLED", day)


@pytest.mark.parametrize(
    ("name", "path", "columns", "amounts", "type_", "status", "country"),
    [
        (
            "efecty",
            "/efecty/v4/settlements",
            ("referenciaComercio", "tipo", "valorBruto", "comision", "valorNeto", "estado"),
            ("120000", "3480", "116520"),
            "RECAUDO",
            "APROBADA",
            "CO",
        ),
        (
            "oxxo",
            "/oxxo/v1/settlements",
            ("order_reference", "type", "gross_amount", "fee_amount", "net_amount", "status"),
            ("1500.00", "54.00", "1446.00"),
            "oxxo_payment",
            "succeeded",
            "MX",
        ),
    ],
)
async def test_cash_networks_report_a_real_payment(
    name: str,
    path: str,
    columns: tuple[str, ...],
    amounts: tuple[str, str, str],
    type_: str,
    status: str,
    country: str,
) -> None:
    reference = f"cash-order-{name}-1"
    async with running_cash() as cash:
        network = cash.network(name)
        await network.issue(reference)
        assert (await network.pay(reference)).status_code == 200
        await network.wait_for_state(reference, "APPROVED")
        voucher = await network.voucher(reference)
        confirmed = datetime.fromisoformat(voucher["confirmed_at"])
        settles = business_days_after(utc_date(confirmed), 3, country).isoformat()
        report = await network.client.get(f"{path}/{settles}")
        assert report.status_code == 200, report.text
        on_payment_day = await network.client.get(f"{path}/{utc_date(confirmed).isoformat()}")
    ref, kind, gross, fee, net, word = columns
    row = _by_reference(report.content, ref)[reference]
    assert reference not in _by_reference(on_payment_day.content, ref)
    assert row[kind] == type_
    assert (row[gross], row[fee], row[net]) == amounts
    assert row[word] == status
    assert list(row.values())[0] == voucher["network_id"]
    assert list(row.values())[-1] == settles


# -- faults are kept in the state file, and a reset forgets them ------------------------


async def test_faults_survive_a_restart_and_a_reset_clears_them(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox.db"
    path = f"/admin/hub/settlements/{TODAY}/faults"
    faults = [{"kind": "unknown_line", "reference": "payout-ghost", "delta": 4200}]
    async with running_sandbox(state_file=state_file) as sandbox:
        assert (await sandbox.client.put(path, json=faults)).status_code == 200

    async with running_sandbox(state_file=state_file) as sandbox:
        assert (await sandbox.client.get(path)).json() == faults
        rows = _rows((await sandbox.client.get(f"/hub/v1/settlements/{TODAY}")).content)
        assert [(r["thirdPartyTransId"], r["grossAmount"]) for r in rows] == [
            ("payout-ghost", "42.00")
        ]
        assert (await sandbox.client.post("/admin/reset")).status_code == 200
        assert (await sandbox.client.get(path)).json() == []
        assert _rows((await sandbox.client.get(f"/hub/v1/settlements/{TODAY}")).content) == []

    async with running_sandbox(state_file=state_file) as sandbox:
        assert (await sandbox.client.get(path)).json() == []


async def test_a_reset_without_a_state_file_clears_the_faults_too() -> None:
    async with running_momo() as momo:
        path = f"/admin/momo/settlements/{TODAY}/faults"
        await momo.admin.put(path, json=[{"kind": "truncated"}])
        assert (await momo.admin.get(path)).json() == [{"kind": "truncated"}]
        assert (await momo.admin.post("/admin/momo/reset")).status_code == 200
        assert (await momo.admin.get(path)).json() == []


# -- the issuer: captures, force posts and refunds, in minor units ----------------------


async def test_issuer_reports_captures_force_posts_and_refunds() -> None:
    async with running_issuer() as issuer:
        card = await issuer.card("card-settle")
        auth = (await issuer.purchase("card-settle", 1000))["authorization_id"]

        async def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = await issuer.admin.post(f"/admin/issuer{path}", json=body)
            assert response.status_code == 201, response.text
            answer: dict[str, Any] = response.json()
            return answer

        capture = await made(f"/authorizations/{auth}/captures", {"amount": 600})
        await made(f"/authorizations/{auth}/reversals", {"amount": 400})
        forced = await made("/cards/card-settle/force-captures", {"amount": 700})
        refund = await made("/cards/card-settle/refunds", {"amount": 250})
        day = utc_date(datetime.fromisoformat(capture["created"])).isoformat()
        report = await issuer.client.get(f"/issuer/v1/settlements/{day}")
        assert report.status_code == 200, report.text
        assert (await issuer.admin.get(f"/issuer/v1/settlements/{day}")).status_code == 401
        as_json = await issuer.client.get(f"/issuer/v1/settlements/{day}?format=json")
    rows = _rows(report.content)
    assert list(rows[0]) == list(issuer_settlements.FORMAT.columns)
    assert as_json.json() == rows
    by_token = {row["token"]: row for row in rows}
    assert set(by_token) == {capture["token"], forced["token"], refund["token"]}
    expected = {
        capture["token"]: ("CAPTURE", "600"),
        forced["token"]: ("FORCE_POST", "700"),
        refund["token"]: ("REFUND", "250"),
    }
    for token, (type_, amount) in expected.items():
        row = by_token[token]
        assert (row["type"], row["amount"], row["fee"], row["net_amount"]) == (
            type_,
            amount,
            "0",
            amount,
        )
        assert (row["card_reference"], row["currency"]) == (card["reference"], "KES")
        assert (row["status"], row["settlement_date"]) == ("SETTLED", day)


def test_the_readme_lists_the_settlement_reports_and_their_faults() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert settlements.markdown_table() in readme
