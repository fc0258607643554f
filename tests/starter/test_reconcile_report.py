"""Rendering a reconciliation run: terminal table, JSON, CSV and the HTML page.

The HTML page is also opened in Debian's headless Chromium (skipped when it is not
installed, except on CI, ``CI=true``, where a missing browser is a failure): its script
must apply the filters given in the address's hash.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from payments_engine.domain.reconciliation import (
    CurrencyTotals,
    Finding,
    FindingKind,
    FindingState,
    RunStatus,
    RunTotals,
    RunView,
)
from payments_engine.starter.reconcile_report import (
    CSV_COLUMNS,
    NO_FINDINGS,
    format_minor,
    run_csv,
    run_html,
    run_json,
    run_table,
)

CHROMIUM = Path("/usr/bin/chromium")
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DAY = date(2026, 11, 24)
SCRIPT_REFERENCE = "<script>alert(1)</script>"


def _finding(number: int, kind: FindingKind, **fields: object) -> Finding:
    values: dict[str, object] = {
        "id": f"rf_{number:016x}",
        "provider": "mpesa",
        "day": DAY,
        "kind": kind,
        "reference": f"po-{number}",
        "provider_transaction_id": f"MP{number:04d}",
        "line_no": number + 1,
        "currency": "KES",
        "detail": f"detail of finding {number}",
    }
    values.update(fields)
    return Finding.model_validate(values)


def _findings() -> list[Finding]:
    return [
        _finding(
            1,
            FindingKind.AMOUNT_MISMATCH,
            report_gross=150_000,
            report_fee=1_000,
            report_status="succeeded",
            ledger_gross=125_000,
            ledger_fee=1_000,
            ledger_status="succeeded",
            at_stake=25_000,
            review=True,
            raw="MP0001,po-1,payout,1500.00,10.00,1490.00,KES,Completed,...",
        ),
        _finding(
            2,
            FindingKind.AMOUNT_MISMATCH,
            report_gross=1_050,
            ledger_gross=1_000,
            at_stake=50,
            state=FindingState.RESOLVED,
            resolution="manual",
            note="Provider rounding, agreed with ops",
            resolved_at=datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
        ),
        _finding(
            3,
            FindingKind.MISSING_IN_LEDGER,
            reference=SCRIPT_REFERENCE,
            currency="UGX",
            report_gross=1_500,
            report_status="succeeded",
            at_stake=1_500,
            review=True,
            raw='X1,<script>alert(1)</script>,payout,1500,0,1500,UGX,"ok"',
        ),
        _finding(
            4,
            FindingKind.MISSING_AT_PROVIDER,
            currency="UGX",
            line_no=None,
            ledger_gross=20_000,
            ledger_status="succeeded",
            at_stake=20_000,
        ),
        _finding(
            5,
            FindingKind.TIMING,
            reference="=SUM(A1:A9)",
            ledger_gross=5_000,
            at_stake=5_000,
            state=FindingState.RESOLVED,
            resolution="auto",
        ),
    ]


def _run(
    findings: list[Finding] | None = None,
    *,
    status: RunStatus = RunStatus.COMPLETED,
    error: str | None = None,
) -> RunView:
    return RunView(
        provider="mpesa",
        day=DAY,
        status=status,
        started_at=datetime(2026, 11, 25, 2, 0, tzinfo=UTC),
        finished_at=datetime(2026, 11, 25, 2, 0, 7, tzinfo=UTC),
        attempts=2,
        source="download",
        report_sha256="0123456789abcdef" * 4,
        totals=RunTotals(
            report_lines=12,
            ledger_records=11,
            matched=9,
            with_findings=5,
            report=[
                CurrencyTotals(currency="KES", lines=8, gross=1_234_550, fee=12_000, net=1_222_550),
                CurrencyTotals(currency="UGX", lines=4, gross=1_501_500, fee=0, net=1_501_500),
            ],
            ledger=[
                CurrencyTotals(currency="KES", lines=8, gross=1_209_500, fee=12_000, net=1_197_500),
                CurrencyTotals(currency="UGX", lines=3, gross=1_520_000, fee=0, net=1_520_000),
            ],
        ),
        error=error,
        findings=_findings() if findings is None else findings,
    )


def _text(run: RunView) -> str:
    console = Console(record=True, width=200)
    console.print(run_table(run))
    return console.export_text()


# -- amounts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (150_000, "UGX", "150,000 UGX"),
        (1_250, "KES", "12.50 KES"),
        (5, "KES", "0.05 KES"),
        (-1_850_000, "KES", "-18,500.00 KES"),
        (1_234, "BHD", "1.234 BHD"),  # not served: babel's decimals
        (700, None, "700"),
        (None, "KES", ""),
    ],
)
def test_format_minor(amount: int | None, currency: str | None, shown: str) -> None:
    assert format_minor(amount, currency) == shown


# -- terminal --------------------------------------------------------------------------


def test_table_summary_totals_and_findings() -> None:
    text = _text(_run())
    assert "provider mpesa" in text
    assert "date 2026-11-24" in text
    assert "status completed" in text
    assert "attempts 2" in text
    assert "source download" in text
    assert "sha256 0123456789ab\n" in text
    assert "12 report lines, 11 ledger records, 9 matched, 5 with findings" in text
    assert "5 findings, 3 open, 2 needing review" in text
    kes = next(line for line in text.splitlines() if line.strip().startswith("KES"))
    assert kes.split()[:2] == ["KES", "8"]
    for figure in ("12,345.50 KES", "11,975.00 KES", "250.50 KES"):
        assert figure in kes
    ugx = next(line for line in text.splitlines() if line.strip().startswith("UGX"))
    assert "1,501,500 UGX" in ugx and "1,520,000 UGX" in ugx and "-18,500 UGX" in ugx
    first = next(line for line in text.splitlines() if "rf_0000000000000001" in line)
    for cell in (
        "amount_mismatch",
        "po-1",
        "1,500.00 KES, fee 10.00",
        "1,250.00 KES",
        "250.00 KES",
    ):
        assert cell in first
    resolved = next(line for line in text.splitlines() if "rf_0000000000000002" in line)
    assert "resolved (manual)" in resolved
    assert SCRIPT_REFERENCE in text
    assert "error" not in text


def test_table_shows_markup_from_the_file_as_written() -> None:
    finding = _finding(7, FindingKind.DUPLICATE, reference="[bold]po-7[/bold] :x:")
    text = _text(_run([finding]))
    assert "[bold]po-7[/bold] :x:" in text


def test_table_failed_run_without_findings() -> None:
    run = _run([], status=RunStatus.FAILED, error="report download failed: HTTP 503")
    run = run.model_copy(update={"totals": RunTotals(), "report_sha256": None})
    text = _text(run)
    assert "status failed" in text
    assert "error: report download failed: HTTP 503" in text
    assert "sha256 -" in text
    assert NO_FINDINGS in text
    assert "No totals" in text


def test_table_no_findings() -> None:
    text = _text(_run([]))
    assert NO_FINDINGS in text
    assert "reference" not in text


# -- JSON and CSV ----------------------------------------------------------------------


def test_json_is_the_stored_run() -> None:
    run = _run()
    text = run_json(run)
    assert text.startswith("{\n  ")
    assert RunView.model_validate_json(text) == run
    assert json.loads(text)["findings"][0]["report_gross"] == 150_000


def test_csv_one_row_per_finding_in_minor_units() -> None:
    rows = list(csv.DictReader(io.StringIO(run_csv(_run()))))
    assert len(rows) == 5
    assert list(rows[0]) == list(CSV_COLUMNS)
    first = rows[0]
    assert first["id"] == "rf_0000000000000001"
    assert first["provider"] == "mpesa"
    assert first["date"] == "2026-11-24"
    assert first["kind"] == "amount_mismatch"
    assert first["state"] == "open"
    assert first["review"] == "yes"
    assert first["report_gross"] == "150000"
    assert first["report_fee"] == "1000"
    assert first["ledger_gross"] == "125000"
    assert first["at_stake"] == "25000"
    assert first["line_no"] == "2"
    assert rows[1]["note"] == "Provider rounding, agreed with ops"
    assert rows[1]["state"] == "resolved"
    assert rows[2]["reference"] == SCRIPT_REFERENCE
    assert rows[3]["line_no"] == "" and rows[3]["report_gross"] == ""
    # A provider's text never starts a spreadsheet formula.
    assert rows[4]["reference"] == "'=SUM(A1:A9)"


def test_csv_header_without_findings() -> None:
    assert run_csv(_run([])) == ",".join(CSV_COLUMNS) + "\n"


# -- HTML ------------------------------------------------------------------------------


class _Page(HTMLParser):
    """Elements of a page: tags with attributes, text per element id and per finding row."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.rows: dict[str, dict[str, str | None]] = {}
        self.by_id: dict[str, str] = {}
        self._open_ids: list[tuple[str, str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "tr" and "finding" in (attributes.get("class") or "").split():
            self.rows[attributes["id"] or ""] = attributes
        if attributes.get("id"):
            self._open_ids.append((tag, attributes["id"] or "", len(self.text)))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open_ids) - 1, -1, -1):
            open_tag, element_id, start = self._open_ids[index]
            if open_tag == tag:
                self.by_id[element_id] = "".join(self.text[start:])
                del self._open_ids[index]
                break

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all_text(self) -> str:
        return "".join(self.text)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def _hidden(row: dict[str, str | None]) -> bool:
    return "hidden" in row or "display: none" in (row.get("style") or "").replace(":none", ": none")


def test_html_escapes_everything_from_the_file() -> None:
    page = run_html(_run())
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    parsed = _parse(page)
    # One script element: the page's own.
    assert [tag for tag, _ in parsed.tags].count("script") == 1
    assert SCRIPT_REFERENCE in parsed.by_id["rf_0000000000000003"]
    assert '"ok"' in parsed.all_text()  # the raw line, quotes and all, as text
    row = parsed.rows["rf_0000000000000003"]
    assert row["data-search"] is not None and SCRIPT_REFERENCE in row["data-search"]


def test_html_is_self_contained() -> None:
    page = run_html(_run())
    assert not re.search(r"(?:https?:)?//[a-z0-9]", page, re.IGNORECASE)
    parsed = _parse(page)
    for tag, attributes in parsed.tags:
        assert "src" not in attributes, tag
        assert not (tag == "link" and attributes.get("rel") == "stylesheet")
    assert "Content-Security-Policy" in page


def test_html_summary_totals_and_findings() -> None:
    parsed = _parse(run_html(_run()))
    summary = parsed.by_id["summary"]
    for words in ("Matched lines9", "Lines with findings5", "Findings needing review2"):
        assert words in summary
    totals = parsed.by_id["totals-table"]
    for figure in ("12,345.50 KES", "11,975.00 KES", "250.50 KES", "-18,500 UGX"):
        assert figure in totals
    assert set(parsed.rows) == {f"rf_{n:016x}" for n in range(1, 6)}
    first = parsed.rows["rf_0000000000000001"]
    assert first["data-kind"] == "amount_mismatch"
    assert first["data-state"] == "open"
    assert parsed.by_id["shown-count"] == "5"
    assert "5 of 5 findings shown" in parsed.by_id["findings"]
    assert "Resolution note: Provider rounding" in parsed.by_id["rf_0000000000000002"]
    kinds = [
        attributes["value"]
        for tag, attributes in parsed.tags
        if tag == "option" and attributes.get("value")
    ]
    assert kinds == [
        "all",
        "amount_mismatch",
        "missing_at_provider",
        "missing_in_ledger",
        "timing",
        "all",
        "open",
        "resolved",
    ]


def test_html_without_findings() -> None:
    parsed = _parse(run_html(_run([])))
    assert parsed.by_id["no-findings"] == NO_FINDINGS
    assert not parsed.rows


# -- in a browser ----------------------------------------------------------------------


def _chromium(tmp_path: Path, runs: dict[str, list[str]]) -> dict[str, str]:
    """Run headless Chromium once per entry of ``runs``, all at once; their stdout by name.

    Each run gets a fresh profile. Started together: one launch takes about a second,
    and the test stays fast.
    """
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is not installed"
        if ON_CI:
            pytest.fail(message + " (CI=true: the browser test must run)")
        pytest.skip(message)
    started: dict[str, subprocess.Popen[str]] = {}
    try:
        for name, args in runs.items():
            command = [
                str(CHROMIUM),
                "--headless=new",
                "--no-sandbox",  # the tests run as root
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                f"--user-data-dir={tmp_path / f'profile-{name}'}",
                *args,
            ]
            started[name] = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        out: dict[str, str] = {}
        for name, process in started.items():
            stdout, stderr = process.communicate(timeout=60)
            assert process.returncode == 0, f"{name}: {stderr[-2000:]}"
            out[name] = stdout
        return out
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def test_html_filters_in_a_browser(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(run_html(_run()), encoding="utf-8")
    url = page.as_uri()
    shot = tmp_path / "report.png"
    # Three launches (about a second each): the unfiltered one also takes the screenshot.
    dumps = _chromium(
        tmp_path,
        {
            "kind": ["--dump-dom", f"{url}#kind=amount_mismatch"],
            "all-three": ["--dump-dom", f"{url}#kind=missing_in_ledger&state=open&q=%3Cscript"],
            "none": ["--dump-dom", f"--screenshot={shot}", "--window-size=1280,900", url],
        },
    )

    filtered = _parse(dumps["kind"])
    assert "12,345.50 KES" in filtered.by_id["totals-table"]
    assert "-18,500 UGX" in filtered.by_id["totals-table"]
    assert filtered.by_id["shown-count"] == "2"
    assert len(filtered.rows) == 5
    for row_id, row in filtered.rows.items():
        assert _hidden(row) == (row["data-kind"] != "amount_mismatch"), row_id

    combined = _parse(dumps["all-three"])
    assert combined.by_id["shown-count"] == "1"
    assert [i for i, row in combined.rows.items() if not _hidden(row)] == ["rf_0000000000000003"]

    everything = _parse(dumps["none"])
    assert everything.by_id["shown-count"] == "5"
    assert "5 of 5 findings shown" in everything.by_id["findings"]
    assert not any(_hidden(row) for row in everything.rows.values())
    # The provider's text stayed text: no script of its own was added.
    assert [tag for tag, _ in everything.tags].count("script") == 1

    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000
