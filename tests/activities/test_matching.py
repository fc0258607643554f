"""The DuckDB core of reconciliation: report parsing, checks and matching to the ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from payments_engine.activities.matching import (
    LEDGER_COLUMNS,
    MatchResult,
    create_ledger_table,
    load_report,
    match,
    open_duckdb,
)
from payments_engine.domain.errors import ReportInvalid
from payments_engine.domain.reconciliation import (
    FindingKind,
    LineKind,
    LineStatus,
    ReconciliationPolicy,
    ReportColumns,
    ReportSpec,
    finding_id,
)

DAY = date(2026, 11, 24)

HUB = ReportSpec(
    path="/hub/v1/settlements/{date}",
    columns=ReportColumns(
        transaction_id="transactionId",
        reference="thirdPartyTransId",
        type="transactionType",
        gross="grossAmount",
        fee="feeAmount",
        net="netAmount",
        currency="currency",
        status="status",
        transaction_time="transactionTime",
        settlement_date="settlementDate",
    ),
    amounts="major",
    types={"payout": LineKind.PAYOUT, "collection": LineKind.COLLECTION},
    statuses={
        "success": LineStatus.SUCCEEDED,
        "failed": LineStatus.FAILED,
        "reversed": LineStatus.REVERSED,
    },
)

EFECTY = ReportSpec(
    path="/efecty/v4/settlements/{date}",
    columns=ReportColumns(
        transaction_id="idTransaccion",
        reference="referenciaComercio",
        type="tipo",
        gross="valorBruto",
        fee="comision",
        net="valorNeto",
        currency="moneda",
        status="estado",
        transaction_time="fechaTransaccion",
        settlement_date="fechaLiquidacion",
    ),
    amounts="major",
    types={"RECAUDO": LineKind.CASH_PAYMENT},
    statuses={"APROBADA": LineStatus.SUCCEEDED, "REVERSADA": LineStatus.REVERSED},
)

ISSUER = ReportSpec(
    path="/issuer/v1/settlements/{date}",
    columns=HUB.columns,
    amounts="minor",
    types={"card_capture": LineKind.CARD_CAPTURE},
    statuses={"success": LineStatus.SUCCEEDED},
)

POLICY = ReconciliationPolicy(review_amount_minor=1000, timing_window_seconds=3600)


def hub_line(
    txid: str,
    ref: str,
    gross: str = "1500.00",
    fee: str = "0.00",
    net: str | None = None,
    *,
    kind: str = "payout",
    currency: str = "UGX",
    status: str = "success",
    when: str = "2026-11-24T10:00:00Z",
    settled: str = "2026-11-24",
) -> list[str]:
    """The cells of one hub line (net = gross - fee for a success, 0.00 otherwise)."""
    if net is None:
        net = f"{float(gross) - float(fee):.2f}" if status == "success" else "0.00"
    return [txid, ref, kind, gross, fee, net, currency, status, when, settled]


def write_csv(path: Path, spec: ReportSpec, rows: Sequence[Sequence[str]], tail: str = "") -> Path:
    lines = [",".join(spec.columns.names())] + [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n" + tail)
    return path


def ledger_row(
    txid: str | None,
    ref: str,
    gross: int = 1500,
    fee: int = 0,
    *,
    kind: str = "payout",
    status: str = "succeeded",
    currency: str = "UGX",
    occurred_at: datetime = datetime(2026, 11, 24, 10, 0),
    settled: date = DAY,
    carried: bool = False,
) -> tuple[object, ...]:
    return (txid, ref, kind, status, gross, fee, currency, occurred_at, settled, carried)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_duckdb(tmp_path / "spill", memory_limit="256MB", threads=2)
    create_ledger_table(connection)
    yield connection
    connection.close()


def fill_ledger(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[object, ...]]) -> None:
    marks = ", ".join("?" for _ in LEDGER_COLUMNS)
    if rows:
        con.executemany(f"INSERT INTO ledger VALUES ({marks})", [list(row) for row in rows])


def run(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    report: Sequence[Sequence[str]],
    ledger: Sequence[tuple[object, ...]],
    *,
    spec: ReportSpec = HUB,
    policy: ReconciliationPolicy = POLICY,
) -> MatchResult:
    fill_ledger(con, ledger)
    load_report(con, write_csv(tmp_path / "report.csv", spec, report), spec)
    return match(con, "hub", DAY, policy)


def kinds(result: MatchResult) -> list[tuple[str, str | None]]:
    return [(f.kind.value, f.reference) for f in result.findings]


# -- parsing ----------------------------------------------------------------------------


def test_normalises_zero_decimal_major_amounts_and_offsets(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    rows = [
        hub_line("TX1", "payout-p1", "1500.00"),
        hub_line(
            "TX2",
            "coll-c1",
            "100.50",
            "1.50",
            kind="collection",
            currency="KES",
            when="2026-11-24T01:30:00+03:00",
        ),
    ]
    assert load_report(con, write_csv(tmp_path / "r.csv", HUB, rows), HUB) == 2
    got = con.execute(
        "SELECT line_no, provider_transaction_id, reference, kind, status, gross, fee, net, "
        "currency, transaction_time, settlement_date, raw FROM report ORDER BY line_no"
    ).fetchall()
    assert got[0][:11] == (
        2,
        "TX1",
        "payout-p1",
        "payout",
        "succeeded",
        1500,
        0,
        1500,
        "UGX",
        datetime(2026, 11, 24, 10, 0),
        DAY,
    )
    # +03:00 is three hours ahead of UTC: 01:30 local is 22:30 the day before in UTC
    assert got[1][5:10] == (10050, 150, 9900, "KES", datetime(2026, 11, 23, 22, 30))
    assert json.loads(got[1][11])["grossAmount"] == "100.50"


def test_efecty_whole_pesos_and_json_format(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    names = EFECTY.columns.names()
    cells = [
        "EF1",
        "cash-1",
        "RECAUDO",
        "50000",
        "1500",
        "48500",
        "COP",
        "APROBADA",
        "2026-11-21T15:00:00Z",
        "2026-11-24",
    ]
    path = tmp_path / "r.json"
    path.write_text(json.dumps([dict(zip(names, cells, strict=True))]))
    assert load_report(con, path, EFECTY, fmt="json") == 1
    assert con.execute("SELECT line_no, kind, gross, fee, net FROM report").fetchall() == [
        (1, "cash_payment", 5_000_000, 150_000, 4_850_000)
    ]


def test_minor_amounts_are_taken_as_they_are(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    rows = [hub_line("C1", "card-1", "1234", "12", "1222", kind="card_capture", currency="USD")]
    load_report(con, write_csv(tmp_path / "r.csv", ISSUER, rows), ISSUER)
    assert con.execute("SELECT gross, fee, net FROM report").fetchall() == [(1234, 12, 1222)]


@pytest.mark.parametrize(
    ("rows", "tail", "needle"),
    [
        ([hub_line("T1", "p1", "1500.50")], "", "line 2: grossAmount '1500.50' has more decimals"),
        (
            [hub_line("T1", "p1"), hub_line("T2", "p2", "12a", net="12.00")],
            "",
            "line 3: grossAmount '12a' is not a decimal number",
        ),
        (
            [hub_line("T1", "p1", "-5.00", net="0.00")],
            "",
            "line 2: grossAmount '-5.00' is negative",
        ),
        ([hub_line("T1", "p1", "15.00", "1.00", "15.00")], "", "line 2: netAmount '15.00' is not"),
        (
            [hub_line("T1", "p1", "15.00", "0.00", "15.00", status="failed")],
            "",
            "line 2: netAmount '15.00' is not 0",
        ),
        ([hub_line("T1", "p1", "15.00", "16.00", "0.00")], "", "line 2: feeAmount '16.00' is more"),
        (
            [hub_line("T1", "p1", currency="XXY")],
            "",
            "line 2: currency 'XXY' is not an ISO 4217 currency code",
        ),
        (
            [hub_line("T1", "p1", status="pending")],
            "",
            "line 2: status 'pending' is not a status word of this provider; expected one of",
        ),
        ([hub_line("T1", "p1", kind="transfer")], "", "line 2: transactionType 'transfer'"),
        ([hub_line("T1", "")], "", "line 2: thirdPartyTransId '' is empty"),
        ([hub_line("T1", "p1", when="2026-11-24 10:00")], "", "line 2: transactionTime"),
        ([hub_line("T1", "p1", when="2026-11-24T10:00:00")], "", "line 2: transactionTime"),
        ([hub_line("T1", "p1", settled="2026-13-01")], "", "line 2: settlementDate"),
        (
            [hub_line("T1", "p1"), hub_line("T2", "p2")],
            "T3,p3,payout,15",
            "line 4: 4 cell(s) where the header has 10",
        ),
        ([hub_line("T1", "p1")], 'T3,"p3', "line 3: "),
    ],
    ids=[
        "ugx-decimals",
        "not-a-number",
        "negative",
        "net-not-gross-less-fee",
        "net-not-zero-failed",
        "fee-above-gross",
        "currency",
        "status",
        "type",
        "empty-reference",
        "bad-time",
        "time-without-offset",
        "bad-date",
        "truncated",
        "truncated-in-quote",
    ],
)
def test_bad_lines_are_named(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, rows: list[list[str]], tail: str, needle: str
) -> None:
    with pytest.raises(ReportInvalid) as caught:
        load_report(con, write_csv(tmp_path / "r.csv", HUB, rows, tail), HUB)
    assert needle in str(caught.value)


def test_unknown_and_missing_columns_are_named(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    names = list(HUB.columns.names())
    path = tmp_path / "r.csv"
    path.write_text(",".join([*names[:-1], "settleDay"]) + "\n")
    with pytest.raises(ReportInvalid) as caught:
        load_report(con, path, HUB)
    message = str(caught.value)
    assert "line 1 (header)" in message
    assert "missing column(s) 'settlementDate'" in message
    assert "unknown column(s) 'settleDay'" in message
    assert "expected the columns 'transactionId'" in message

    path.write_text(",".join(names[1:]) + "\n")
    with pytest.raises(ReportInvalid, match="missing column\\(s\\) 'transactionId'"):
        load_report(con, path, HUB)


def test_columns_in_another_order_are_read_by_name(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    names = list(HUB.columns.names())
    cells = hub_line("T1", "p1")
    path = tmp_path / "r.csv"
    path.write_text(",".join(reversed(names)) + "\n" + ",".join(reversed(cells)) + "\n")
    assert load_report(con, path, HUB) == 1
    assert con.execute("SELECT provider_transaction_id, gross FROM report").fetchall() == [
        ("T1", 1500)
    ]


def test_empty_and_truncated_json_reports(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"")
    with pytest.raises(ReportInvalid, match="line 1: the report r.csv is empty"):
        load_report(con, path, HUB)
    names = HUB.columns.names()
    records = [dict(zip(names, hub_line(f"T{i}", f"p{i}"), strict=True)) for i in range(3)]
    body = json.dumps(records)
    truncated = tmp_path / "r.json"
    truncated.write_text(body[: len(body) * 3 // 4])
    with pytest.raises(ReportInvalid, match="truncated"):
        load_report(con, truncated, HUB, fmt="json")
    del records[1][names[2]]
    truncated.write_text(json.dumps(records))
    with pytest.raises(ReportInvalid, match="record 2: missing column\\(s\\) 'transactionType'"):
        load_report(con, truncated, HUB, fmt="json")


# -- matching ---------------------------------------------------------------------------


def test_clean_day_has_no_findings(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    result = run(
        con,
        tmp_path,
        [
            hub_line("T1", "payout-1", "1500.00"),
            hub_line("T2", "coll-1", "250.00", "2.50", kind="collection", currency="KES"),
            hub_line("T3", "payout-3", "700.00", status="failed"),
        ],
        [
            ledger_row("T1", "payout-1", 1500),
            # matched by kind and reference: the ledger does not know the provider's id
            ledger_row(None, "coll-1", 25000, 250, kind="collection", currency="KES"),
            ledger_row("T3", "payout-3", 700, status="failed"),
        ],
    )
    assert result.findings == [] and result.evidence == []
    totals = result.totals
    assert (totals.report_lines, totals.ledger_records, totals.matched) == (3, 3, 3)
    assert totals.with_findings == 0
    assert [(t.currency, t.lines, t.gross, t.fee, t.net) for t in totals.report] == [
        ("KES", 1, 25000, 250, 24750),
        ("UGX", 2, 2200, 0, 1500),
    ]
    assert totals.ledger == totals.report


def test_missing_in_ledger(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    result = run(con, tmp_path, [hub_line("T1", "payout-1", "1500.00")], [])
    (finding,) = result.findings
    assert finding.kind is FindingKind.MISSING_IN_LEDGER
    assert finding.id == finding_id("hub", DAY, "missing_in_ledger", "ref:payout:payout-1", 0)
    assert (finding.line_no, finding.report_gross, finding.ledger_gross) == (2, 1500, None)
    assert finding.at_stake == 1500 and finding.review
    assert finding.raw is not None and json.loads(finding.raw)["transactionId"] == "T1"
    assert finding.detail.startswith("hub reports 1,500 UGX for payout-1")
    (evidence,) = result.evidence
    assert evidence.finding_id == finding.id
    assert evidence.occurred_at == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_failed_line_without_record_is_evidence_only(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    result = run(con, tmp_path, [hub_line("T1", "payout-1", status="failed")], [])
    assert result.findings == []
    (evidence,) = result.evidence
    assert evidence.finding_id is None
    assert (evidence.reference, evidence.status, evidence.gross) == (
        "payout-1",
        LineStatus.FAILED,
        1500,
    )


def test_missing_at_provider_and_timing_near_midnight(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    result = run(
        con,
        tmp_path,
        [],
        [
            ledger_row("T1", "payout-1", occurred_at=datetime(2026, 11, 24, 22, 59, 59)),
            ledger_row("T2", "payout-2", occurred_at=datetime(2026, 11, 24, 23, 0, 0)),
            ledger_row("T3", "payout-3", status="failed"),
        ],
    )
    assert kinds(result) == [("missing_at_provider", "payout-1"), ("timing", "payout-2")]
    missing, timing = result.findings
    assert missing.raw is None and missing.review and missing.ledger_gross == 1500
    assert not timing.review and timing.at_stake == 1500
    assert "23:00:00 UTC" in timing.detail


def test_timing_uses_utc_of_an_offset_line(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    # 02:30 at +03:00 is 23:30 UTC of the day: the line matches the ledger's UTC record
    result = run(
        con,
        tmp_path,
        [hub_line("T1", "payout-1", when="2026-11-25T02:30:00+03:00")],
        [ledger_row("T1", "payout-1", occurred_at=datetime(2026, 11, 24, 23, 30))],
    )
    assert result.findings == [] and result.totals.matched == 1
    assert con.execute("SELECT transaction_time FROM report").fetchone() == (
        datetime(2026, 11, 24, 23, 30),
    )


@pytest.mark.parametrize(
    ("line", "record", "kind", "at_stake"),
    [
        (hub_line("T1", "p1", "1500.00"), ledger_row("T1", "p1", 1400), "amount_mismatch", 100),
        (
            hub_line("T1", "p1", "1500.00", "20.00"),
            ledger_row("T1", "p1", 1500, 5),
            "fee_mismatch",
            15,
        ),
        (
            hub_line("T1", "p1", currency="KES", gross="15.00"),
            ledger_row("T1", "p1", 1500),
            "currency_mismatch",
            1500,
        ),
        (
            hub_line("T1", "p1", status="failed"),
            ledger_row("T1", "p1", 1400),
            "status_mismatch",
            1500,
        ),
    ],
    ids=["amount", "fee", "currency", "status"],
)
def test_pair_differences(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    line: list[str],
    record: tuple[object, ...],
    kind: str,
    at_stake: int,
) -> None:
    result = run(con, tmp_path, [line], [record])
    (finding,) = result.findings
    assert finding.kind.value == kind and finding.at_stake == at_stake
    assert finding.id == finding_id("hub", DAY, kind, "id:T1", 0)
    assert finding.report_gross is not None and finding.ledger_gross is not None
    assert finding.review is (at_stake >= POLICY.review_amount_minor)
    assert result.totals.matched == 0 and result.evidence == []


def test_amount_mismatch_detail(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    result = run(
        con, tmp_path, [hub_line("T1", "payout-p1")], [ledger_row("T1", "payout-p1", 1400)]
    )
    assert result.findings[0].detail == (
        "hub reports 1,500 UGX for payout-p1; the ledger booked 1,400 UGX"
    )


def test_duplicate_lines(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    line = hub_line("T1", "payout-1")
    result = run(
        con,
        tmp_path,
        [line, hub_line("T2", "payout-2"), line, line],
        [ledger_row("T1", "payout-1"), ledger_row("T2", "payout-2")],
    )
    assert kinds(result) == [("duplicate", "payout-1"), ("duplicate", "payout-1")]
    first, second = result.findings
    assert (first.line_no, second.line_no) == (4, 5)
    assert first.id == finding_id("hub", DAY, "duplicate", "id:T1", 1)
    assert second.id == finding_id("hub", DAY, "duplicate", "id:T1", 2)
    assert "again on line 4 (first on line 2)" in first.detail
    assert result.totals.matched == 2 and result.totals.with_findings == 2


def test_carried_records(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    yesterday = date(2026, 11, 23)
    result = run(
        con,
        tmp_path,
        [hub_line("T9", "payout-9", when="2026-11-23T23:50:00Z")],
        [
            ledger_row(
                "T9",
                "payout-9",
                occurred_at=datetime(2026, 11, 23, 23, 50),
                settled=yesterday,
                carried=True,
            ),
            ledger_row("T8", "payout-8", settled=yesterday, carried=True),
        ],
    )
    assert result.findings == []
    assert result.resolved_carried == [("payout", "payout-9")]
    assert result.totals.ledger_records == 0 and result.totals.matched == 1


def test_id_key_wins_over_reference(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    # same id, another reference: matched by id; a ledger id the report lacks: by reference
    result = run(
        con,
        tmp_path,
        [hub_line("T1", "payout-x"), hub_line("T2", "payout-2")],
        [ledger_row("T1", "payout-1"), ledger_row("OTHER", "payout-2")],
    )
    assert result.findings == [] and result.totals.matched == 2


def test_evidence_is_bounded(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    rows = [hub_line(f"T{i}", f"p{i}", status="failed") for i in range(600)]
    result = run(con, tmp_path, rows, [])
    assert len(result.evidence) == 500
    assert result.evidence[0].reference == "p0"


def test_header_only_report_is_an_empty_day(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    result = run(con, tmp_path, [], [ledger_row("T1", "payout-1", status="failed")])
    assert result.findings == [] and result.totals.report_lines == 0
    assert result.totals.ledger_records == 1 and result.totals.report == []


# -- fast path and general path agree ----------------------------------------------------


def test_valid_cells_off_the_fast_path_are_parsed_exactly(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # Valid, but not of the usual shape: each takes the exact (slower) path.
    rows = [
        hub_line("T1", "p1", "1500", "0", "1500"),
        hub_line("T2", "c1", "100.5", "1.50", "99.000", kind="collection", currency="KES"),
        hub_line("T3", "p3", "0001500.000000", "0.00", "1500.00"),
        hub_line("T4", "p4", when="2026-11-24t10:00:00.250z"),
        hub_line("T5", "p5", when="2026-11-24T12:00:00+0130"),
        hub_line("T6", "p6", "1500.00"),
    ]
    assert load_report(con, write_csv(tmp_path / "r.csv", HUB, rows), HUB) == 6
    got = con.execute(
        "SELECT gross, fee, net, transaction_time FROM report ORDER BY line_no"
    ).fetchall()
    assert [row[:3] for row in got] == [
        (1500, 0, 1500),
        (10050, 150, 9900),
        (1500, 0, 1500),
        (1500, 0, 1500),
        (1500, 0, 1500),
        (1500, 0, 1500),
    ]
    assert got[3][3] == datetime(2026, 11, 24, 10, 0, 0, 250000)
    assert got[4][3] == datetime(2026, 11, 24, 10, 30)


def test_first_bad_line_is_named_after_many_good_ones(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    rows = [hub_line(f"T{i}", f"p{i}") for i in range(3000)]
    rows[2500] = hub_line("T2500", "p2500", "1500.10")
    rows[2700] = hub_line("T2700", "p2700", currency="XXY")
    with pytest.raises(ReportInvalid) as caught:
        load_report(con, write_csv(tmp_path / "r.csv", HUB, rows), HUB)
    assert "line 2502: grossAmount '1500.10' has more decimals than the currency has (0)" in str(
        caught.value
    )


def test_minor_amount_too_large_is_named(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    big = "1" + "0" * 18
    rows = [hub_line("C1", "card-1", big, "0", big, kind="card_capture", currency="USD")]
    with pytest.raises(ReportInvalid, match="line 2: grossAmount '1000000000000000000' is too"):
        load_report(con, write_csv(tmp_path / "r.csv", ISSUER, rows), ISSUER)


def test_extra_ledger_records_of_a_key_stay_unmatched(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    result = run(
        con,
        tmp_path,
        [hub_line("T1", "payout-1"), hub_line("T2", "payout-2")],
        [
            ledger_row("T1", "payout-1", carried=True),
            ledger_row("T1", "payout-1"),
            ledger_row("T1", "payout-1b"),
            ledger_row("T2", "payout-2"),
        ],
    )
    assert result.totals.matched == 2
    assert [(f.kind.value, f.reference, f.id) for f in result.findings] == [
        (
            "missing_at_provider",
            "payout-1b",
            finding_id("hub", DAY, "missing_at_provider", "id:T1", 2),
        ),
    ]
    assert result.resolved_carried == []
