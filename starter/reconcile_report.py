"""A reconciliation run as the people who review it see it: terminal, JSON, CSV and HTML.

Every renderer takes a :class:`RunView` (a stored run and its findings) and returns text
or a Rich renderable; nothing is read or written here. Amounts are stored in minor units
and shown in major units with the currency's decimals (``1,500 UGX``, ``12.50 KES``);
JSON and CSV keep minor units, for programs and spreadsheets.

References, statuses and raw lines come from a provider's file: they are never read as
Rich markup in the terminal, are escaped in HTML, and cannot start a spreadsheet formula
in CSV.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime

from babel.numbers import get_currency_precision
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from payments_engine.domain.money import SERVED_CURRENCIES, currency_exponent
from payments_engine.domain.reconciliation import (
    CurrencyTotals,
    Finding,
    FindingKind,
    FindingState,
    RunStatus,
    RunView,
)
from payments_engine.starter.tables import plain_table

NO_FINDINGS = "No findings: every line matched."

CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "provider",
    "date",
    "kind",
    "state",
    "review",
    "reference",
    "provider_transaction_id",
    "line_no",
    "currency",
    "report_gross",
    "report_fee",
    "report_status",
    "ledger_gross",
    "ledger_fee",
    "ledger_status",
    "at_stake",
    "detail",
    "note",
)

# A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV
# injection"): text from a provider's file gets a leading apostrophe instead.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# -- amounts ---------------------------------------------------------------------------


def _exponent(currency: str | None) -> int:
    """Decimals of ``currency``: the engine's table, else babel's (a provider's odd code)."""
    if currency is None:
        return 0
    if currency in SERVED_CURRENCIES:
        return currency_exponent(currency)
    try:
        return int(get_currency_precision(currency))
    except Exception:  # a provider's file can carry anything in its currency column
        return 2


def format_minor(amount: int | None, currency: str | None, *, code: bool = True) -> str:
    """``amount`` minor units in major units with grouping: ``1,500 UGX``, ``-12.50 KES``.

    Integer arithmetic only (no float, no Decimal context); an absent amount is ``""``
    and an absent currency shows the bare minor units. ``code=False`` leaves the
    currency's code out (``12.50``).
    """
    if amount is None:
        return ""
    exponent = _exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**exponent)
    text = f"{sign}{whole:,}"
    if exponent:
        text += f".{fraction:0{exponent}d}"
    return f"{text} {currency}" if currency and code else text


def _report_currency(finding: Finding) -> str | None:
    return finding.report_currency or finding.currency


def _ledger_currency(finding: Finding) -> str | None:
    return finding.ledger_currency or finding.currency


def _side(gross: int | None, fee: int | None, currency: str | None, status: str | None) -> str:
    """One side of a finding in a line: ``1,500.00 KES, fee 10.00, succeeded``."""
    parts: list[str] = []
    if gross is not None:
        parts.append(format_minor(gross, currency))
    if fee:
        # The fee is in the gross's currency: said once.
        parts.append(f"fee {format_minor(fee, currency, code=gross is None)}")
    if status:
        parts.append(status)
    return ", ".join(parts)


def _report_side(finding: Finding) -> str:
    return _side(
        finding.report_gross, finding.report_fee, _report_currency(finding), finding.report_status
    )


def _ledger_side(finding: Finding) -> str:
    return _side(
        finding.ledger_gross, finding.ledger_fee, _ledger_currency(finding), finding.ledger_status
    )


def _reference(finding: Finding) -> str:
    """Our reference, else the provider's transaction id, else nothing."""
    return finding.reference or finding.provider_transaction_id or ""


def _state(finding: Finding) -> str:
    if finding.state is FindingState.RESOLVED and finding.resolution:
        return f"resolved ({finding.resolution})"
    return finding.state.value


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _currency_rows(run: RunView) -> list[tuple[str, CurrencyTotals, CurrencyTotals, int]]:
    """Per currency (sorted): the report's totals, the ledger's, and report net - ledger net.

    A currency on one side only has zeros on the other.
    """
    report = {t.currency: t for t in run.totals.report}
    ledger = {t.currency: t for t in run.totals.ledger}
    rows = []
    for code in sorted(report.keys() | ledger.keys()):
        mine = report.get(code, CurrencyTotals(currency=code))
        ours = ledger.get(code, CurrencyTotals(currency=code))
        rows.append((code, mine, ours, mine.net - ours.net))
    return rows


def _needing_review(findings: Iterable[Finding]) -> int:
    return sum(1 for f in findings if f.review and f.state is FindingState.OPEN)


def _kind_label(kind: str) -> str:
    return kind.replace("_", " ")


# -- terminal --------------------------------------------------------------------------


def run_table(run: RunView) -> Group:
    """The run for the terminal: summary lines, totals per currency and the findings.

    Every cell is a :class:`~rich.text.Text`: a reference such as ``[bold]x`` from a
    provider's file is shown as written, never read as markup.

    Args:
        run: the stored run.

    Returns:
        A group to print with a Rich console; narrower than about 210 columns, the report
        and ledger cells wrap.
    """
    parts: list[RenderableType] = []
    status_style = {
        RunStatus.COMPLETED: "green",
        RunStatus.RUNNING: "yellow",
        RunStatus.FAILED: "red",
    }[run.status]
    head = Text()
    head.append("provider ", style="dim").append(run.provider)
    head.append("  date ", style="dim").append(run.day.isoformat())
    head.append("  status ", style="dim").append(run.status.value, style=status_style)
    head.append("  attempts ", style="dim").append(str(run.attempts))
    head.append("  source ", style="dim").append(run.source)
    head.append("  sha256 ", style="dim").append(
        run.report_sha256[:12] if run.report_sha256 else "-"
    )
    parts.append(head)
    times = Text()
    times.append("started ", style="dim").append(_when(run.started_at))
    if run.finished_at is not None:
        times.append("  finished ", style="dim").append(_when(run.finished_at))
    parts.append(times)
    totals = run.totals
    open_count = sum(1 for f in run.findings if f.state is FindingState.OPEN)
    parts.append(
        Text(
            f"{totals.report_lines} report lines, {totals.ledger_records} ledger records, "
            f"{totals.matched} matched, {totals.with_findings} with findings; "
            f"{len(run.findings)} findings, {open_count} open, "
            f"{_needing_review(run.findings)} needing review"
        )
    )
    if run.status is RunStatus.FAILED and run.error:
        parts.append(Text.assemble(("error: ", "bold red"), run.error))

    parts.append(Text(""))
    rows = _currency_rows(run)
    if rows:
        parts.append(_totals_table(rows))
    else:
        parts.append(Text("No totals: the run counted no line."))

    parts.append(Text(""))
    if run.findings:
        parts.append(_findings_table(run.findings))
    else:
        parts.append(Text(NO_FINDINGS))
    return Group(*parts)


def _totals_table(rows: list[tuple[str, CurrencyTotals, CurrencyTotals, int]]) -> Table:
    table = plain_table(
        "currency",
        "report lines",
        "report gross",
        "report fee",
        "report net",
        "ledger records",
        "ledger gross",
        "ledger fee",
        "ledger net",
        "net difference",
    )
    for column in table.columns[1:]:
        column.justify = "right"
        column.no_wrap = True
    for code, report, ledger, difference in rows:
        table.add_row(
            Text(code),
            Text(str(report.lines)),
            Text(format_minor(report.gross, code)),
            Text(format_minor(report.fee, code)),
            Text(format_minor(report.net, code)),
            Text(str(ledger.lines)),
            Text(format_minor(ledger.gross, code)),
            Text(format_minor(ledger.fee, code)),
            Text(format_minor(ledger.net, code)),
            Text(format_minor(difference, code), style="bold red" if difference else ""),
        )
    return table


def _findings_table(findings: list[Finding]) -> Table:
    table = plain_table(
        "id", "kind", "reference", "report", "ledger", "at stake", "review", "state", "detail"
    )
    for index in (0, 1, 2):  # id, kind, reference: they identify the row
        table.columns[index].no_wrap = True
    table.columns[5].justify = "right"
    for f in findings:
        table.add_row(
            Text(f.id),
            Text(f.kind.value),
            Text(_reference(f)),
            Text(_report_side(f)),
            Text(_ledger_side(f)),
            Text(format_minor(f.at_stake, f.currency)),
            Text("yes" if f.review else "", style="bold" if f.review else ""),
            Text(_state(f)),
            Text(f.detail),
        )
    return table


# -- JSON and CSV ----------------------------------------------------------------------


def run_json(run: RunView) -> str:
    """The run as indented JSON, every field as stored (amounts in minor units)."""
    return run.model_dump_json(indent=2)


def _cell(value: object) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula gets a leading ``'``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def run_csv(run: RunView) -> str:
    """One row per finding under a header row (always written), amounts in minor units.

    Columns are :data:`CSV_COLUMNS`; ``review`` is ``yes``/``no``, absent values are
    empty. Text that would start a spreadsheet formula (``=``, ``+``, ``-``, ``@``) is
    prefixed with ``'``: references and statuses come from a provider's file.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for f in run.findings:
        writer.writerow(
            [
                _cell(f.id),
                _cell(f.provider),
                f.day.isoformat(),
                f.kind.value,
                f.state.value,
                _cell(f.review),
                _cell(f.reference),
                _cell(f.provider_transaction_id),
                _cell(f.line_no),
                _cell(f.currency),
                _cell(f.report_gross),
                _cell(f.report_fee),
                _cell(f.report_status),
                _cell(f.ledger_gross),
                _cell(f.ledger_fee),
                _cell(f.ledger_status),
                _cell(f.at_stake),
                _cell(f.detail),
                _cell(f.note),
            ]
        )
    return out.getvalue()


# -- HTML ------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; --line: #d0d4da; --muted: #5b6470; --bad: #b3261e;
  --good: #1e7a3c; --warn: #8a5a00; --head: #f3f5f7; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: #1b1f24; margin: 24px auto; max-width: 1400px; padding: 0 16px; }
h1 { font-size: 1.5em; margin: 0 0 12px; }
h2 { font-size: 1.15em; margin: 28px 0 8px; }
.muted { color: var(--muted); }
[hidden] { display: none !important; }
dl.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr));
  gap: 8px 16px; margin: 0; }
dl.summary div { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
dl.summary dt { color: var(--muted); font-size: .85em; }
dl.summary dd { margin: 2px 0 0; font-size: 1.15em; font-weight: 600; overflow-wrap: anywhere; }
.status-completed { color: var(--good); }
.status-running { color: var(--warn); }
.status-failed { color: var(--bad); }
.error { border: 1px solid var(--bad); color: var(--bad); border-radius: 6px; padding: 8px 10px;
  margin-top: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left;
  vertical-align: top; }
thead th { background: var(--head); font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.diff.nonzero { color: var(--bad); font-weight: 700; }
td.diff.zero { color: var(--good); }
.filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: end; margin: 8px 0; }
.filters label { display: flex; flex-direction: column; font-size: .85em; color: var(--muted); }
.filters select, .filters input { font: inherit; color: #1b1f24; padding: 4px 6px;
  min-width: 180px; }
.count { margin: 6px 0; }
td.id, td.ref { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .9em; }
td.id { white-space: nowrap; }
td.ref { overflow-wrap: anywhere; }
tr.review td.review { color: var(--bad); font-weight: 700; }
tr.finding.state-resolved { color: var(--muted); }
.kind { white-space: nowrap; }
details { margin-top: 4px; }
details summary { cursor: pointer; color: var(--muted); font-size: .85em; }
pre.raw { margin: 4px 0 0; padding: 6px; background: var(--head); white-space: pre-wrap;
  overflow-wrap: anywhere; font-size: .85em; }
.note { margin-top: 4px; font-size: .9em; }
.note b { color: var(--muted); font-weight: 600; }
footer { margin-top: 24px; font-size: .85em; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { font-size: 9.5pt; margin: 0; max-width: none; padding: 0; }
  .filters { display: none; }
  .print-only { display: block !important; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  thead th { background: none; border-bottom: 2px solid #000; }
  a { color: inherit; text-decoration: none; }
  details summary { color: #000; }
}
.print-only { display: none; }
"""

_JS = """
(function () {
  "use strict";
  var KINDS = __KINDS__;
  var kindSel = document.getElementById("kind-filter");
  var stateSel = document.getElementById("state-filter");
  var search = document.getElementById("search");
  var shown = document.getElementById("shown-count");
  var noMatch = document.getElementById("no-match");
  var printNote = document.getElementById("filter-note");
  if (!kindSel || !stateSel || !search || !shown) { return; }
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.finding"));

  function hasOption(select, value) {
    return Array.prototype.some.call(select.options, function (o) { return o.value === value; });
  }

  function fromHash() {
    var params = new URLSearchParams(location.hash.replace(/^#/, ""));
    var kind = params.get("kind");
    var state = params.get("state");
    var q = params.get("q");
    if (kind !== null && !hasOption(kindSel, kind) && KINDS.indexOf(kind) >= 0) {
      var option = document.createElement("option");
      option.value = kind;
      option.textContent = kind.replace(/_/g, " ") + " (0)";
      kindSel.appendChild(option);
    }
    kindSel.value = kind !== null && hasOption(kindSel, kind) ? kind : "all";
    stateSel.value = state !== null && hasOption(stateSel, state) ? state : "all";
    search.value = q !== null ? q : "";
  }

  function toHash() {
    var params = new URLSearchParams();
    if (kindSel.value !== "all") { params.set("kind", kindSel.value); }
    if (stateSel.value !== "all") { params.set("state", stateSel.value); }
    if (search.value.trim()) { params.set("q", search.value.trim()); }
    var text = params.toString();
    try {
      history.replaceState(null, "", text ? "#" + text : location.pathname + location.search);
    } catch (e) { /* a browser that refuses it on file:// keeps the old address */ }
  }

  function apply() {
    var kind = kindSel.value;
    var state = stateSel.value;
    var q = search.value.trim().toLowerCase();
    var count = 0;
    rows.forEach(function (row) {
      var visible = (kind === "all" || row.getAttribute("data-kind") === kind) &&
        (state === "all" || row.getAttribute("data-state") === state) &&
        (!q || (row.getAttribute("data-search") || "").indexOf(q) >= 0);
      row.hidden = !visible;
      if (visible) { count += 1; }
    });
    shown.textContent = String(count);
    if (noMatch) { noMatch.hidden = count !== 0; }
    if (printNote) {
      var words = [];
      if (kind !== "all") { words.push("kind " + kind.replace(/_/g, " ")); }
      if (state !== "all") { words.push("state " + state); }
      if (q) { words.push("search \\u201c" + q + "\\u201d"); }
      printNote.textContent = words.length ? "Filtered: " + words.join(", ") + "." : "";
    }
  }

  function changed() { apply(); toHash(); }

  kindSel.addEventListener("change", changed);
  stateSel.addEventListener("change", changed);
  search.addEventListener("input", changed);
  window.addEventListener("hashchange", function () { fromHash(); apply(); });
  fromHash();
  apply();
})();
"""


def _e(value: object) -> str:
    """``value`` as HTML text or attribute value, quotes included."""
    return html.escape("" if value is None else str(value), quote=True)


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


def run_html(run: RunView) -> str:
    """The run as one self-contained HTML page for the people who review it.

    Inline CSS and JavaScript only (no URL is loaded; a Content-Security-Policy lets only
    the page's own script and style run, so nothing a provider's file smuggles in could).
    The page shows a summary, the totals per currency on both sides with the difference
    of net, and the findings with filters by kind, state and a text search (reference,
    ids, detail). The filters start from the address's hash, e.g.
    ``report.html#kind=amount_mismatch&state=open&q=po-1``, and write it back, so a
    filtered view can be shared. Without JavaScript every finding is shown.

    Args:
        run: the stored run.

    Returns:
        The page, UTF-8 text.
    """
    script = _JS.replace("__KINDS__", json.dumps([k.value for k in FindingKind]))
    csp = (
        "default-src 'none'; "
        f"style-src {_csp_hash(_CSS)}; script-src {_csp_hash(script)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    title = f"Reconciliation {run.provider} {run.day.isoformat()}"
    body = [
        f"<h1>Reconciliation: {_e(run.provider)}, {_e(run.day.isoformat())}</h1>",
        _html_summary(run),
        '<section id="totals">',
        "<h2>Totals per currency</h2>",
        _html_totals(run),
        "</section>",
        '<section id="findings">',
        f"<h2>Findings ({len(run.findings)})</h2>",
        _html_findings(run.findings),
        "</section>",
        '<footer class="muted">Amounts in major units of each currency. Net difference is '
        "the report&#8217;s net minus the ledger&#8217;s.</footer>",
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            *body,
            f"<script>{script}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _html_summary(run: RunView) -> str:
    totals = run.totals
    items: list[tuple[str, str, str]] = [
        ("Provider", _e(run.provider), ""),
        ("Date", _e(run.day.isoformat()), ""),
        ("Status", _e(run.status.value), f"status-{run.status.value}"),
        ("Matched lines", str(totals.matched), "matched"),
        ("Lines with findings", str(totals.with_findings), "with-findings"),
        ("Findings needing review", str(_needing_review(run.findings)), "needing-review"),
        ("Open findings", str(sum(f.state is FindingState.OPEN for f in run.findings)), ""),
        ("Report lines", str(totals.report_lines), ""),
        ("Ledger records", str(totals.ledger_records), ""),
        ("Attempts", str(run.attempts), ""),
        ("Source", _e(run.source), ""),
        ("Started", _e(_when(run.started_at)), ""),
        ("Finished", _e(_when(run.finished_at) or "-"), ""),
    ]
    cells = [
        f'<div><dt>{label}</dt><dd class="{css}">{value}</dd></div>' for label, value, css in items
    ]
    out = ['<dl class="summary" id="summary">', *cells, "</dl>"]
    if run.report_sha256:
        out.append(f'<p class="muted">Report SHA-256: <code>{_e(run.report_sha256)}</code></p>')
    if run.error:
        out.append(f'<div class="error" id="run-error"><b>Error:</b> {_e(run.error)}</div>')
    return "\n".join(out)


def _html_totals(run: RunView) -> str:
    rows = _currency_rows(run)
    if not rows:
        return '<p id="no-totals">No totals: the run counted no line.</p>'
    out = [
        '<table id="totals-table">',
        "<thead>",
        '<tr><th rowspan="2">Currency</th><th colspan="4">Provider report</th>'
        '<th colspan="4">Ledger</th><th rowspan="2" class="num">Net difference<br>'
        "(report &#8722; ledger)</th></tr>",
        '<tr><th class="num">Lines</th><th class="num">Gross</th><th class="num">Fee</th>'
        '<th class="num">Net</th><th class="num">Records</th><th class="num">Gross</th>'
        '<th class="num">Fee</th><th class="num">Net</th></tr>',
        "</thead>",
        "<tbody>",
    ]
    for code, report, ledger, difference in rows:
        diff_css = "nonzero" if difference else "zero"
        out.append(
            f'<tr data-currency="{_e(code)}"><th scope="row">{_e(code)}</th>'
            f'<td class="num">{report.lines}</td>'
            f'<td class="num">{_e(format_minor(report.gross, code))}</td>'
            f'<td class="num">{_e(format_minor(report.fee, code))}</td>'
            f'<td class="num">{_e(format_minor(report.net, code))}</td>'
            f'<td class="num">{ledger.lines}</td>'
            f'<td class="num">{_e(format_minor(ledger.gross, code))}</td>'
            f'<td class="num">{_e(format_minor(ledger.fee, code))}</td>'
            f'<td class="num">{_e(format_minor(ledger.net, code))}</td>'
            f'<td class="num diff {diff_css}">{_e(format_minor(difference, code))}</td></tr>'
        )
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def _html_findings(findings: list[Finding]) -> str:
    if not findings:
        return f'<p id="no-findings">{_e(NO_FINDINGS)}</p>'
    kinds: dict[str, int] = {}
    for f in findings:
        kinds[f.kind.value] = kinds.get(f.kind.value, 0) + 1
    kind_options = "".join(
        f'<option value="{_e(kind)}">{_e(_kind_label(kind))} ({count})</option>'
        for kind, count in sorted(kinds.items())
    )
    total = len(findings)
    out = [
        '<div class="filters">',
        '<label for="kind-filter">Kind<select id="kind-filter">'
        f'<option value="all">All kinds ({total})</option>{kind_options}</select></label>',
        '<label for="state-filter">State<select id="state-filter">'
        '<option value="all">All</option><option value="open">Open</option>'
        '<option value="resolved">Resolved</option></select></label>',
        '<label for="search">Search reference, id or detail'
        '<input id="search" type="search" autocomplete="off"></label>',
        "</div>",
        f'<p class="count"><span id="shown-count">{total}</span> of {total} findings shown</p>',
        '<p class="print-only muted" id="filter-note"></p>',
        '<table id="findings-table">',
        "<thead><tr><th>Finding</th><th>Kind</th><th>Reference</th><th>Report</th>"
        '<th>Ledger</th><th class="num">At stake</th><th>Review</th><th>State</th>'
        "<th>Detail</th></tr></thead>",
        "<tbody>",
    ]
    for f in findings:
        out.append(_html_finding(f))
    out += [
        '<tr id="no-match" hidden><td colspan="9" class="muted">'
        "No findings match the filters.</td></tr>",
        "</tbody>",
        "</table>",
    ]
    return "\n".join(out)


def _html_finding(f: Finding) -> str:
    search = " ".join(
        part for part in (f.id, f.reference, f.provider_transaction_id, f.detail) if part
    ).lower()
    classes = ["finding", f"state-{f.state.value}"] + (["review"] if f.review else [])
    reference = _e(f.reference or "")
    if f.provider_transaction_id:
        reference += f'<div class="muted">provider: {_e(f.provider_transaction_id)}</div>'
    state = _e(_state(f))
    if f.resolved_at is not None:
        state += f'<div class="muted">{_e(_when(f.resolved_at))}</div>'
    detail = _e(f.detail)
    if f.note:
        detail += f'<div class="note"><b>Resolution note:</b> {_e(f.note)}</div>'
    if f.raw is not None:
        line = f"line {f.line_no}" if f.line_no is not None else "line"
        detail += (
            f"<details><summary>Report {_e(line)}</summary>"
            f'<pre class="raw">{_e(f.raw)}</pre></details>'
        )
    return (
        f'<tr class="{" ".join(classes)}" id="{_e(f.id)}" data-kind="{_e(f.kind.value)}" '
        f'data-state="{_e(f.state.value)}" data-review="{"yes" if f.review else "no"}" '
        f'data-search="{_e(search)}">'
        f'<td class="id">{_e(f.id)}</td>'
        f'<td class="kind">{_e(_kind_label(f.kind.value))}</td>'
        f'<td class="ref">{reference}</td>'
        f"<td>{_e(_report_side(f))}</td>"
        f"<td>{_e(_ledger_side(f))}</td>"
        f'<td class="num">{_e(format_minor(f.at_stake, f.currency))}</td>'
        f'<td class="review">{"yes" if f.review else ""}</td>'
        f"<td>{state}</td>"
        f"<td>{detail}</td>"
        "</tr>"
    )
