"""The DuckDB core of reconciliation: a provider's settlement report parsed and matched.

A report of a million lines must not become a million Python objects: the file is read
by DuckDB (``read_csv`` / ``read_json_objects``), checked and normalised in SQL, and
matched to the ledger's records with hash joins. Python only sees what comes out: the
first offending line when the report is invalid, the findings, the evidence and the
totals.

The connection is in memory with a memory limit and a spill directory, so a big report
stays within bounded memory (DuckDB writes what does not fit to ``workdir``).

Tables:
    ledger: the ledger's records of the provider and date, filled by the caller
        (:func:`create_ledger_table`); ``carried`` rows are records of the day before
        that were missing from that day's report.
    report: the normalised report (:func:`load_report`); ``line_no`` is the line of
        the file (header = line 1) for CSV, the 1-based object index for JSON. A view
        of ``report_data`` (the cells as read and their parsed values), so that the
        ``raw`` JSON of a line is made only when read (findings); rows in no set order.

Flow: :func:`open_duckdb`, :func:`create_ledger_table` (then fill it),
:func:`load_report`, :func:`match`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from babel.numbers import get_currency_precision, list_currencies

from payments_engine.domain.errors import ReportInvalid

if TYPE_CHECKING:
    import duckdb
from payments_engine.domain.reconciliation import (
    MAX_EVIDENCE,
    CurrencyTotals,
    Evidence,
    Finding,
    FindingKind,
    LineKind,
    LineStatus,
    ReconciliationPolicy,
    ReportSpec,
    RunTotals,
    finding_id,
)

__all__ = [
    "LEDGER_COLUMNS",
    "MatchResult",
    "create_ledger_table",
    "load_report",
    "match",
    "open_duckdb",
]

# -- connection and ledger ---------------------------------------------------------------

CREATE_LEDGER = """
CREATE OR REPLACE TABLE ledger (
    provider_transaction_id VARCHAR,
    reference VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    gross BIGINT NOT NULL,
    fee BIGINT NOT NULL,
    currency VARCHAR NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    settlement_date DATE NOT NULL,
    carried BOOLEAN NOT NULL
)
"""

LEDGER_COLUMNS: tuple[str, ...] = (
    "provider_transaction_id",
    "reference",
    "kind",
    "status",
    "gross",
    "fee",
    "currency",
    "occurred_at",
    "settlement_date",
    "carried",
)
"""The ``ledger`` table's columns, in order (for COPY and Arrow loads)."""


def open_duckdb(
    workdir: Path, *, memory_limit: str = "512MB", threads: int = 2
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that spills to ``workdir`` beyond ``memory_limit``.

    Args:
        workdir: the spill directory (created if missing); the caller removes it.
        memory_limit: DuckDB's memory limit (``512MB``).
        threads: worker threads.

    Returns:
        The connection; the caller closes it.
    """
    # Imported here: the CLI and every process that only imports this module stay light.
    import duckdb

    workdir.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(
        ":memory:",
        config={
            "memory_limit": memory_limit,
            "threads": threads,
            "temp_directory": str(workdir),
            # rowid of a table made from a file then follows the file's order: line numbers.
            "preserve_insertion_order": True,
        },
    )


def create_ledger_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create (or replace) the empty ``ledger`` table (columns :data:`LEDGER_COLUMNS`)."""
    con.execute(CREATE_LEDGER)


# -- report: reading -----------------------------------------------------------------------

# Internal names of the ten cells, in ReportColumns.names() order.
FIELDS: tuple[str, ...] = (
    "txid",
    "ref",
    "type",
    "gross",
    "fee",
    "net",
    "currency",
    "status",
    "ttime",
    "sdate",
)

# An empty CSV cell must stay '' (not NULL): NULL would hide which cells were there.
_NO_NULL = "\x01\x02"

# Strict CSV: a line with another number of cells than the header fails with DuckDB's
# "CSV Error on Line: N", which numbers file lines (quoted newlines included) exactly.
READ_CSV = """
CREATE OR REPLACE TEMP TABLE report_cells AS
SELECT * FROM read_csv(
    $path, header = true, auto_detect = false, columns = {columns},
    delim = ',', quote = '"', escape = '"', nullstr = $nullstr,
    null_padding = false, strict_mode = true)
"""

# Raw JSON objects (no schema inference: a missing key must stay distinguishable from a
# null one); malformed or truncated JSON fails here.
READ_JSON = """
CREATE OR REPLACE TEMP TABLE report_json AS
SELECT json FROM read_json_objects($path, format = 'array')
"""

# The first object that is not an object with exactly the expected keys.
JSON_BAD_KEYS = """
SELECT rowid + 1 AS line_no, json_type(json) AS type, json_keys(json) AS keys
FROM report_json
WHERE json_type(json) <> 'OBJECT' OR list_sort(json_keys(json)) <> $expected
ORDER BY rowid
LIMIT 1
"""

# Amount cells: checked and converted to minor units in SQL (exp = the currency's
# exponent; major = the cell is in major units). A major amount may carry more decimals
# than the currency has only if they are zeros (the hub's UGX "1500.00").
MACROS = (
    r"""
CREATE OR REPLACE TEMP MACRO pe_amount_problem(txt, exp, major) AS CASE
    WHEN txt = '' THEN 'is empty'
    WHEN regexp_full_match(txt, '-[0-9]+(\.[0-9]+)?') THEN 'is negative'
    WHEN major AND NOT regexp_full_match(txt, '[0-9]+(\.[0-9]+)?')
        THEN 'is not a decimal number'
    WHEN NOT major AND NOT regexp_full_match(txt, '[0-9]+')
        THEN 'is not a whole number of minor units'
    WHEN major AND NOT regexp_full_match(substr(split_part(txt, '.', 2), exp + 1), '0*')
        THEN 'has more decimals than the currency has (' || exp || ')'
    WHEN length(ltrim(split_part(txt, '.', 1), '0')) + (CASE WHEN major THEN exp ELSE 0 END) > 18
        THEN 'is too large'
END
""",
    r"""
CREATE OR REPLACE TEMP MACRO pe_minor(txt, exp, major) AS CASE
    WHEN NOT major THEN TRY_CAST(txt AS BIGINT)
    ELSE TRY_CAST(split_part(txt, '.', 1) AS BIGINT) * CAST(pow(10, exp) AS BIGINT)
        + coalesce(TRY_CAST(rpad(substr(split_part(txt, '.', 2), 1, exp), exp, '0') AS BIGINT), 0)
END
""",
    # ISO 8601 with Z or an offset, to naive UTC, by arithmetic: no dependence on the
    # session's TimeZone (which the ICU extension would apply to a TIMESTAMPTZ cast).
    r"""
CREATE OR REPLACE TEMP MACRO pe_utc_parts(txt) AS regexp_extract(txt,
    '^([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?)'
    || '(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)$',
    ['day', 'clock', 'zulu', 'sign', 'hh', 'mm'])
""",
    r"""
CREATE OR REPLACE TEMP MACRO pe_utc_of(p) AS CASE
    WHEN p.day = '' THEN NULL
    WHEN p.zulu <> '' THEN TRY_CAST(p.day || ' ' || p.clock AS TIMESTAMP)
    WHEN TRY_CAST(p.hh AS INTEGER) > 23 OR coalesce(TRY_CAST(p.mm AS INTEGER), 0) > 59 THEN NULL
    ELSE TRY_CAST(p.day || ' ' || p.clock AS TIMESTAMP) - to_minutes(
        CAST((CASE WHEN p.sign = '-' THEN -1 ELSE 1 END)
            * (CAST(p.hh AS INTEGER) * 60 + coalesce(TRY_CAST(p.mm AS INTEGER), 0)) AS BIGINT))
END
""",
    r"""
CREATE OR REPLACE TEMP MACRO pe_utc(txt) AS pe_utc_of(pe_utc_parts(txt))
""",
    r"""
CREATE OR REPLACE TEMP MACRO pe_date(txt) AS CASE
    WHEN regexp_full_match(txt, '[0-9]{4}-[0-9]{2}-[0-9]{2}') THEN TRY_CAST(txt AS DATE)
END
""",
)

CREATE_LOOKUPS = (
    "CREATE OR REPLACE TEMP TABLE report_types (word VARCHAR, kind VARCHAR)",
    "CREATE OR REPLACE TEMP TABLE report_statuses (word VARCHAR, status VARCHAR)",
    "CREATE OR REPLACE TEMP TABLE report_currencies (code VARCHAR, exponent INTEGER)",
)

# The fast path of the checks. A cell of the common shape is checked and converted with one
# regular expression and casts; any other cell goes through the exact macros above. Each
# fast check implies the exact one (``pe_amount_fits`` => no ``pe_amount_problem``), so a
# line that passes them all is valid, and the exact checks run only on the few others.
FAST_MACROS = (
    # Ten-thousandths of a major amount of at most 14 digits and 4 decimals: a BIGINT.
    r"""
CREATE OR REPLACE TEMP MACRO pe_scaled(txt) AS
    TRY_CAST(TRY_CAST(txt AS DECIMAL(18, 4)) * 10000 AS BIGINT)
""",
    # True only for a valid amount: a major one of at most 14 digits and 4 decimals whose
    # decimals beyond the exponent (at most 4: ISO 4217's largest) are zeros, never too
    # large (14 + 4 <= 18); a minor one of at most 18 digits.
    r"""
CREATE OR REPLACE TEMP MACRO pe_amount_fits(txt, exp, major) AS CASE
    WHEN major THEN exp <= 4 AND regexp_full_match(txt, '[0-9]{1,14}(\.[0-9]{1,4})?')
        AND pe_scaled(txt) % CAST(pow(10, 4 - exp) AS BIGINT) = 0
    ELSE regexp_full_match(txt, '[0-9]{1,18}')
END
""",
    # pe_minor's value, by arithmetic when the amount fits.
    r"""
CREATE OR REPLACE TEMP MACRO pe_minor_fast(txt, exp, major, fits) AS CASE
    WHEN NOT coalesce(fits, false) THEN pe_minor(txt, exp, major)
    WHEN major THEN pe_scaled(txt) // CAST(pow(10, 4 - exp) AS BIGINT)
    ELSE TRY_CAST(txt AS BIGINT)
END
""",
    # pe_utc's value; a UTC time with Z and no fraction (the usual) needs no extraction.
    r"""
CREATE OR REPLACE TEMP MACRO pe_utc_fast(txt) AS CASE
    WHEN regexp_full_match(txt, '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z')
        THEN TRY_CAST(substr(txt, 1, 10) || ' ' || substr(txt, 12, 8) AS TIMESTAMP)
    ELSE pe_utc(txt)
END
""",
)

# The cells with the provider's words and the currency's exponent looked up (left joins:
# a line with an unknown word keeps a NULL, which the checks name). {cells} is a query of
# ``line_no`` and the ten cells.
_LOOKED_UP = """
SELECT c.*, t.kind AS norm_kind, s.status AS norm_status, x.exponent
FROM ({cells}) AS c
LEFT JOIN report_types AS t ON t.word = c.type
LEFT JOIN report_statuses AS s ON s.word = c.status
LEFT JOIN report_currencies AS x ON x.code = c.currency
"""

# The staged report: the cells as read (the findings' ``raw`` is made of them, and an error
# message quotes them), the values parsed by the fast path, and ``suspect``: the line
# failed a fast check, so it may be invalid (every invalid line is a suspect). One pass over
# the cells; the rowid of the cells' table is the line's position in the file.
STAGE = """
CREATE OR REPLACE TEMP TABLE report_data AS
SELECT * EXCLUDE (gross_fits, fee_fits, net_fits),
    NOT coalesce(
        ref <> '' AND norm_kind IS NOT NULL AND norm_status IS NOT NULL
        AND exponent IS NOT NULL AND gross_fits AND fee_fits AND net_fits
        AND fee_minor <= gross_minor
        AND CASE WHEN norm_status = 'succeeded' THEN net_minor = gross_minor - fee_minor
            ELSE net_minor = 0 END
        AND utc_time IS NOT NULL AND settlement IS NOT NULL,
        false) AS suspect
FROM (
    SELECT *,
        pe_minor_fast(gross, exponent, $major, gross_fits) AS gross_minor,
        pe_minor_fast(fee, exponent, $major, fee_fits) AS fee_minor,
        pe_minor_fast(net, exponent, $major, net_fits) AS net_minor,
        pe_utc_fast(ttime) AS utc_time,
        pe_date(sdate) AS settlement
    FROM (
        SELECT *,
            pe_amount_fits(gross, exponent, $major) AS gross_fits,
            pe_amount_fits(fee, exponent, $major) AS fee_fits,
            pe_amount_fits(net, exponent, $major) AS net_fits
        FROM ({looked_up})
    )
)
"""

# The exact checks, run on the suspects only (a handful, or none).
_PARSED = """
SELECT *,
    pe_amount_problem(gross, exponent, $major) AS gross_problem,
    pe_amount_problem(fee, exponent, $major) AS fee_problem,
    pe_amount_problem(net, exponent, $major) AS net_problem,
    pe_minor(gross, exponent, $major) AS gross_minor,
    pe_minor(fee, exponent, $major) AS fee_minor,
    pe_minor(net, exponent, $major) AS net_minor,
    pe_utc(ttime) AS utc_time,
    pe_date(sdate) AS settlement
FROM ({looked_up})
"""

# The first offending line, with the field and the reason: the checks in the order a
# person fixes them. Top-1 by line_no streams (no materialised sort).
FIRST_PROBLEM = """
SELECT line_no, problem[1] AS field, problem[2] AS reason FROM (
    SELECT line_no, CASE
        WHEN ref = '' THEN ['ref', 'is empty']
        WHEN norm_kind IS NULL THEN ['type', 'is not a type word of this provider']
        WHEN norm_status IS NULL THEN ['status', 'is not a status word of this provider']
        WHEN exponent IS NULL THEN ['currency', 'is not an ISO 4217 currency code']
        WHEN gross_problem IS NOT NULL THEN ['gross', gross_problem]
        WHEN fee_problem IS NOT NULL THEN ['fee', fee_problem]
        WHEN net_problem IS NOT NULL THEN ['net', net_problem]
        WHEN fee_minor > gross_minor THEN ['fee', 'is more than the gross amount']
        WHEN norm_status = 'succeeded' AND net_minor <> gross_minor - fee_minor
            THEN ['net', 'is not gross less fee']
        WHEN norm_status <> 'succeeded' AND net_minor <> 0
            THEN ['net', 'is not 0 on a line that moved no money']
        WHEN utc_time IS NULL
            THEN ['ttime', 'is not an ISO 8601 time with Z or an offset (2026-11-24T10:00:00Z)']
        WHEN settlement IS NULL THEN ['sdate', 'is not a date (YYYY-MM-DD)']
    END AS problem
    FROM ({parsed})
)
WHERE problem IS NOT NULL
ORDER BY line_no
LIMIT 1
"""

# The cells of the staged report's suspects, for FIRST_PROBLEM.
SUSPECTS = "SELECT line_no, {fields} FROM report_data WHERE suspect"

# The normalised report: a view, so that ``raw`` (a JSON text of the line's cells, which
# costs as much as the parse itself) is made only for the rows a query reads: findings.
REPORT_VIEW = """
CREATE OR REPLACE TEMP VIEW report AS
SELECT
    line_no,
    nullif(txid, '') AS provider_transaction_id,
    ref AS reference,
    norm_kind AS kind,
    norm_status AS status,
    gross_minor AS gross,
    fee_minor AS fee,
    net_minor AS net,
    currency,
    utc_time AS transaction_time,
    settlement AS settlement_date,
    {raw} AS raw
FROM report_data
"""

_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_CSV_COUNTS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_HEADER_BYTES = 64 * 1024


def _quote_literal(text: str) -> str:
    """``text`` as a SQL string literal (column names go into SQL text)."""
    return "'" + text.replace("'", "''") + "'"


def _currency_exponents() -> dict[str, int]:
    """ISO 4217 codes (babel's CLDR list) and their exponents."""
    return {code: int(get_currency_precision(code)) for code in sorted(list_currencies())}


def _exponent(code: str) -> int:
    """A currency's exponent for display (babel's default 2 for an unknown code)."""
    return int(get_currency_precision(code))


def _fill_lookups(con: duckdb.DuckDBPyConnection, spec: ReportSpec) -> None:
    """The provider's words and the currencies as small tables to join on."""
    for statement in CREATE_LOOKUPS:
        con.execute(statement)
    # One statement per table (lists unnested), not a statement per row.
    fills = (
        ("report_types", {word: LineKind(kind).value for word, kind in spec.types.items()}),
        (
            "report_statuses",
            {word: LineStatus(status).value for word, status in spec.statuses.items()},
        ),
        ("report_currencies", _currency_exponents()),
    )
    for table, mapping in fills:
        con.execute(
            f"INSERT INTO {table} SELECT unnest($keys), unnest($values)",
            {"keys": list(mapping), "values": list(mapping.values())},
        )
    for macro in (*MACROS, *FAST_MACROS):
        con.execute(macro)


def _check_columns(found: list[str], expected: tuple[str, ...], where: str) -> None:
    """Raise naming the missing, unknown or repeated columns of ``found``."""
    missing = [name for name in expected if name not in found]
    unknown = [name for name in found if name not in expected]
    repeated = sorted({name for name in found if found.count(name) > 1})
    if not (missing or unknown or repeated):
        return
    parts = []
    if missing:
        parts.append("missing column(s) " + ", ".join(map(repr, missing)))
    if unknown:
        parts.append("unknown column(s) " + ", ".join(map(repr, unknown)))
    if repeated:
        parts.append("repeated column(s) " + ", ".join(map(repr, repeated)))
    raise ReportInvalid(
        f"{where}: {'; '.join(parts)}; expected the columns " + ", ".join(map(repr, expected))
    )


def _read_header(path: Path) -> list[str]:
    """The CSV header's cells (only the first line is read)."""
    with path.open("rb") as handle:
        first = handle.readline(_HEADER_BYTES)
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReportInvalid("line 1 (header): not UTF-8 text") from None
    if not text.strip():
        raise ReportInvalid("line 1 (header): the report is empty (no header line)")
    return next(csv.reader([text.rstrip("\r\n")]))


def _csv_error(exc: duckdb.Error) -> ReportInvalid:
    """DuckDB's CSV error as a ReportInvalid naming the line."""
    message = str(exc)
    line = _CSV_LINE.search(message)
    counts = _CSV_COUNTS.search(message)
    where = f"line {line.group(1)}" if line else "the report"
    if counts:
        expected, found = int(counts.group(1)), int(counts.group(2))
        if found < expected:
            return ReportInvalid(
                f"{where}: {found} cell(s) where the header has {expected}: "
                "the line is cut short (a truncated report?)"
            )
        return ReportInvalid(f"{where}: {found} cells where the header has {expected}")
    if "unterminated quote" in message:
        return ReportInvalid(f"{where}: a quoted value is not closed (a truncated report?)")
    first = next((part.strip() for part in message.splitlines() if part.strip()), message)
    return ReportInvalid(f"{where}: the CSV cannot be read ({first[:200]})")


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path, spec: ReportSpec) -> str:
    """Read the CSV into ``report_cells``; return the SQL of its ``raw`` JSON."""
    names = spec.columns.names()
    header = _read_header(path)
    _check_columns(header, names, "line 1 (header)")
    field_of = dict(zip(names, FIELDS, strict=True))
    # The header's order, which may differ from the spec's: cells are read by name.
    columns = "{" + ", ".join(f"'{field_of[name]}': 'VARCHAR'" for name in header) + "}"
    import duckdb

    try:
        con.execute(READ_CSV.format(columns=columns), {"path": str(path), "nullstr": _NO_NULL})
    except duckdb.Error as exc:
        raise _csv_error(exc) from None
    pairs = ", ".join(
        f"{_quote_literal(name)}, {field}" for name, field in zip(names, FIELDS, strict=True)
    )
    return f"CAST(json_object({pairs}) AS VARCHAR)"


def _stage_json(con: duckdb.DuckDBPyConnection, path: Path, spec: ReportSpec) -> str:
    """Read the JSON array into ``report_cells``; return the SQL of its ``raw`` JSON."""
    names = spec.columns.names()
    import duckdb

    try:
        con.execute(READ_JSON, {"path": str(path)})
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0][:200]
        raise ReportInvalid(
            f"the JSON report cannot be read (a truncated report?): {first}"
        ) from None
    bad = con.execute(JSON_BAD_KEYS, {"expected": sorted(names)}).fetchone()
    if bad is not None:
        line_no, kind, keys = bad
        where = f"record {line_no}"
        if kind != "OBJECT":
            raise ReportInvalid(f"{where}: a JSON {str(kind).lower()} where an object is expected")
        _check_columns(list(keys), names, where)
    # Values as text: strings as they are, numbers as DuckDB prints them, null as ''.
    cells = ", ".join(
        f"coalesce(json_extract_string(json, {_quote_literal(_json_path(name))}), '') AS {field}"
        for name, field in zip(names, FIELDS, strict=True)
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE report_cells AS SELECT {cells}, CAST(json AS VARCHAR) AS "
        "original FROM report_json"
    )
    con.execute("DROP TABLE report_json")
    return "original"


def _json_path(name: str) -> str:
    """A JSON path to the key ``name`` (quoted: a key may hold dots)."""
    return '$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_report(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    spec: ReportSpec,
    *,
    fmt: Literal["csv", "json"] = "csv",
) -> int:
    """Parse, check and normalise a settlement report into the table ``report``.

    Args:
        con: from :func:`open_duckdb`.
        path: the report file.
        spec: the provider's columns, amounts and words.
        fmt: ``csv`` (a header line with the provider's column names) or ``json`` (an
            array of objects keyed by the column names).

    Returns:
        The number of lines (records) of the report.

    Raises:
        ReportInvalid: naming the first offending line (file line, header = 1; the
            record's 1-based index for JSON) or the columns, for an empty file, missing
            or unknown columns, a truncated line, an unknown word or currency, an
            impossible amount, a bad time or date, an empty reference.
    """
    if not path.exists() or path.stat().st_size == 0:
        raise ReportInvalid(f"line 1: the report {path.name} is empty")
    _fill_lookups(con, spec)
    if fmt == "csv":
        raw = _stage_csv(con, path, spec)
        first, unit = 2, "line"
    else:
        raw = _stage_json(con, path, spec)
        first, unit = 1, "record"
    major = spec.amounts == "major"
    cells = "SELECT rowid + $first AS line_no, * FROM report_cells"
    con.execute(
        STAGE.format(looked_up=_LOOKED_UP.format(cells=cells)), {"first": first, "major": major}
    )
    con.execute("DROP TABLE report_cells")
    suspects = _LOOKED_UP.format(cells=SUSPECTS.format(fields=", ".join(FIELDS)))
    problem = con.execute(
        FIRST_PROBLEM.format(parsed=_PARSED.format(looked_up=suspects)), {"major": major}
    ).fetchone()
    if problem is not None:
        raise _line_error(con, spec, unit, *problem)
    con.execute(REPORT_VIEW.format(raw=raw))
    count = con.execute("SELECT count(*) FROM report_data").fetchone()
    return int(count[0]) if count else 0


def _line_error(
    con: duckdb.DuckDBPyConnection,
    spec: ReportSpec,
    unit: str,
    line_no: int,
    field_name: str,
    reason: str,
) -> ReportInvalid:
    """The ReportInvalid of one offending cell: line, provider's column, value, why."""
    column = dict(zip(FIELDS, spec.columns.names(), strict=True))[field_name]
    # The offending cell, fetched alone (a column name cannot be a parameter: FIELDS only).
    row = con.execute(
        f"SELECT {field_name} FROM report_data WHERE line_no = $line", {"line": line_no}
    ).fetchone()
    value = "" if row is None else str(row[0])
    shown = repr(value if len(value) <= 40 else value[:37] + "...")
    message = f"{unit} {line_no}: {column} {shown} {reason}"
    if field_name == "type":
        message += "; expected one of " + ", ".join(map(repr, spec.types))
    elif field_name == "status":
        message += "; expected one of " + ", ".join(map(repr, spec.statuses))
    return ReportInvalid(message)


# -- matching -------------------------------------------------------------------------------

# Keys: by the provider's id when the other side knows it, else by kind and reference. A key
# is three columns (by_id, key_kind, key_value): ('id', '', txid) or ('ref', kind,
# reference), never a concatenated string (building a million strings costs more than the
# join). Its text, ``id:<txid>`` or ``ref:<kind>:<reference>``, is built only for findings
# and evidence (their ids). key_hash picks out the keys that may repeat (below).
KEY_REPORT = """
CREATE OR REPLACE TEMP TABLE match_report_keys AS
SELECT *, hash(by_id, key_kind, key_value) AS key_hash FROM (
    SELECT line_no, by_id,
        CASE WHEN by_id THEN '' ELSE kind END AS key_kind,
        CASE WHEN by_id THEN provider_transaction_id ELSE reference END AS key_value,
        status, currency, gross, fee
    FROM (
        SELECT line_no, kind, reference, provider_transaction_id, status, currency, gross, fee,
            coalesce(provider_transaction_id IN (
                SELECT provider_transaction_id FROM ledger
                WHERE provider_transaction_id IS NOT NULL
            ), false) AS by_id
        FROM report
    )
)
"""

KEY_LEDGER = """
CREATE OR REPLACE TEMP TABLE match_ledger_keys AS
SELECT *, hash(by_id, key_kind, key_value) AS key_hash FROM (
    SELECT ledger_row, carried, by_id,
        CASE WHEN by_id THEN '' ELSE kind END AS key_kind,
        CASE WHEN by_id THEN provider_transaction_id ELSE reference END AS key_value,
        status, currency, gross, fee, occurred_at
    FROM (
        SELECT rowid AS ledger_row, carried, kind, reference, provider_transaction_id, status,
            currency, gross, fee, occurred_at,
            coalesce(provider_transaction_id IN (
                SELECT provider_transaction_id FROM report
                WHERE provider_transaction_id IS NOT NULL
            ), false) AS by_id
        FROM ledger
    )
)
"""

# The hashes of the keys that may have more than one line or record on a side (a hash
# shared by two keys only makes both take the general path). Grouping integers is cheap;
# every other key is unique on both sides and pairs by a plain full outer join.
MULTI = """
CREATE OR REPLACE TEMP TABLE match_multi AS
SELECT key_hash FROM match_report_keys GROUP BY key_hash HAVING count(*) > 1
UNION
SELECT key_hash FROM match_ledger_keys GROUP BY key_hash HAVING count(*) > 1
"""

# One row per key and side's first (lowest line; today's ledger record before a carried
# one), classified. Extra ledger records of a key (which the ledger's uniqueness should
# prevent) are kept unmatched with an ordinal, so that none is silently dropped. Keys
# without repeats pair directly; the others (few) group first.
PAIRS = """
CREATE OR REPLACE TEMP TABLE match_pairs AS
WITH report_multi AS (
    SELECT * FROM match_report_keys AS k SEMI JOIN match_multi AS m ON m.key_hash = k.key_hash
), ledger_multi AS (
    SELECT * FROM match_ledger_keys AS k SEMI JOIN match_multi AS m ON m.key_hash = k.key_hash
), report_first AS (
    SELECT by_id, key_kind, key_value, min(line_no) AS line_no
    FROM report_multi GROUP BY by_id, key_kind, key_value
), ledger_first AS (
    SELECT by_id, key_kind, key_value,
        coalesce(min(ledger_row) FILTER (WHERE NOT carried), min(ledger_row)) AS ledger_row
    FROM ledger_multi GROUP BY by_id, key_kind, key_value
), multi_pairs AS (
    SELECT rf.line_no, lf.ledger_row, 0 AS ordinal
    FROM report_first AS rf FULL OUTER JOIN ledger_first AS lf
        ON lf.by_id = rf.by_id AND lf.key_kind = rf.key_kind AND lf.key_value = rf.key_value
    UNION ALL
    SELECT CAST(NULL AS BIGINT), lm.ledger_row,
        row_number() OVER (PARTITION BY lm.by_id, lm.key_kind, lm.key_value
            ORDER BY lm.ledger_row)
    FROM ledger_multi AS lm
    ANTI JOIN ledger_first AS lf ON lf.ledger_row = lm.ledger_row
), paired AS (
    SELECT r.line_no, l.ledger_row, 0 AS ordinal,
        r.status AS r_status, r.currency AS r_currency, r.gross AS r_gross, r.fee AS r_fee,
        l.status AS l_status, l.currency AS l_currency, l.gross AS l_gross, l.fee AS l_fee,
        l.occurred_at, l.carried
    FROM (
        SELECT * FROM match_report_keys AS k ANTI JOIN match_multi AS m
            ON m.key_hash = k.key_hash
    ) AS r
    FULL OUTER JOIN (
        SELECT * FROM match_ledger_keys AS k ANTI JOIN match_multi AS m
            ON m.key_hash = k.key_hash
    ) AS l ON l.by_id = r.by_id AND l.key_kind = r.key_kind AND l.key_value = r.key_value
    UNION ALL
    SELECT p.line_no, p.ledger_row, p.ordinal,
        r.status, r.currency, r.gross, r.fee,
        l.status, l.currency, l.gross, l.fee, l.occurred_at, l.carried
    FROM multi_pairs AS p
    LEFT JOIN report_multi AS r ON r.line_no = p.line_no
    LEFT JOIN ledger_multi AS l ON l.ledger_row = p.ledger_row
)
SELECT line_no, ledger_row, ordinal, coalesce(carried, false) AS carried,
    CASE
        WHEN line_no IS NOT NULL AND ledger_row IS NOT NULL THEN CASE
            WHEN r_status <> l_status THEN 'status_mismatch'
            WHEN r_currency <> l_currency THEN 'currency_mismatch'
            WHEN r_gross <> l_gross THEN 'amount_mismatch'
            WHEN r_fee <> l_fee THEN 'fee_mismatch'
        END
        -- only a line that moved money is a finding without a counterpart
        WHEN line_no IS NOT NULL THEN
            CASE WHEN r_status = 'succeeded' THEN 'missing_in_ledger' END
        -- yesterday's record still missing: its finding of yesterday stays open
        WHEN carried THEN NULL
        WHEN l_status = 'succeeded' THEN
            CASE WHEN occurred_at >= $timing_from THEN 'timing' ELSE 'missing_at_provider' END
    END AS finding
FROM paired
"""

# Extra copies of a key's line: the first is matched, each further one is a duplicate
# (ordinal 1, 2, ... in line order), with the key's first ledger record. Only keys that
# may repeat are windowed.
DUPLICATES = """
CREATE OR REPLACE TEMP TABLE match_duplicates AS
SELECT d.line_no, d.first_line, d.ordinal, p.ledger_row
FROM (
    SELECT line_no, min(line_no) OVER key_lines AS first_line,
        row_number() OVER (key_lines ORDER BY line_no) - 1 AS ordinal
    FROM match_report_keys AS k SEMI JOIN match_multi AS m ON m.key_hash = k.key_hash
    WINDOW key_lines AS (PARTITION BY by_id, key_kind, key_value)
) AS d
JOIN match_pairs AS p ON p.line_no = d.first_line
WHERE d.ordinal > 0
"""

# A key's text (finding ids): the line's key when there is a line, else the record's.
_KEY_TEXT = """
CASE WHEN {k}.by_id THEN 'id:' || {k}.key_value
    ELSE 'ref:' || {k}.key_kind || ':' || {k}.key_value END
"""

# The pairs and duplicates that are findings (a few): a small table that the joins of
# FINDINGS probe from, so that each big table is scanned once and not hashed.
FINDING_ROWS = """
CREATE OR REPLACE TEMP TABLE match_findings AS
SELECT finding, ordinal, line_no, ledger_row, CAST(NULL AS BIGINT) AS first_line
FROM match_pairs WHERE finding IS NOT NULL
UNION ALL
SELECT 'duplicate', ordinal, line_no, ledger_row, first_line FROM match_duplicates
"""

# ``raw`` is made by the view for the joined lines only.
FINDINGS = f"""
SELECT f.finding,
    CASE WHEN f.line_no IS NOT NULL THEN {_KEY_TEXT.format(k="rk")}
        ELSE {_KEY_TEXT.format(k="lk")} END AS key,
    f.ordinal, f.line_no,
    r.provider_transaction_id, r.reference, r.kind, r.status, r.gross, r.fee, r.currency, r.raw,
    l.provider_transaction_id, l.reference, l.kind, l.status, l.gross, l.fee, l.currency,
    l.occurred_at, f.first_line
FROM match_findings AS f
LEFT JOIN match_report_keys AS rk ON rk.line_no = f.line_no
LEFT JOIN match_ledger_keys AS lk ON lk.ledger_row = f.ledger_row
LEFT JOIN report AS r ON r.line_no = f.line_no
LEFT JOIN (
    SELECT rowid AS ledger_row, provider_transaction_id, reference, kind, status, gross, fee,
        currency, occurred_at
    FROM ledger
) AS l ON l.ledger_row = f.ledger_row
ORDER BY f.finding, coalesce(r.reference, l.reference), f.line_no NULLS LAST, f.ordinal, key
"""

MATCHED_COUNT = """
SELECT count(*) FROM match_pairs
WHERE line_no IS NOT NULL AND ledger_row IS NOT NULL AND finding IS NULL
"""

RESOLVED_CARRIED = """
SELECT l.kind, l.reference
FROM match_pairs AS p
JOIN (SELECT rowid AS ledger_row, kind, reference FROM ledger WHERE carried) AS l
    ON l.ledger_row = p.ledger_row
WHERE p.line_no IS NOT NULL AND p.carried
ORDER BY l.kind, l.reference
"""

# The first lines without a ledger record (top-N first, then their columns).
EVIDENCE = f"""
SELECT {_KEY_TEXT.format(k="rk")} AS key, p.finding, r.reference, r.kind,
    r.provider_transaction_id, r.status, r.gross, r.currency, r.transaction_time
FROM (
    SELECT line_no, finding FROM match_pairs
    WHERE ledger_row IS NULL AND line_no IS NOT NULL
    ORDER BY line_no
    LIMIT $limit
) AS p
JOIN match_report_keys AS rk ON rk.line_no = p.line_no
JOIN (
    SELECT line_no, reference, kind, provider_transaction_id, status, gross, currency,
        transaction_time
    FROM report
) AS r ON r.line_no = p.line_no
ORDER BY p.line_no
"""

REPORT_TOTALS = """
SELECT currency, count(*), sum(gross), sum(fee), sum(net)
FROM report GROUP BY currency ORDER BY currency
"""

LEDGER_TOTALS = """
SELECT currency, count(*), sum(gross), sum(fee),
    sum(CASE WHEN status = 'succeeded' THEN gross - fee ELSE 0 END)
FROM ledger WHERE NOT carried GROUP BY currency ORDER BY currency
"""

DROP_MATCH_TABLES = (
    "DROP TABLE IF EXISTS match_findings",
    "DROP TABLE IF EXISTS match_duplicates",
    "DROP TABLE IF EXISTS match_pairs",
    "DROP TABLE IF EXISTS match_multi",
    "DROP TABLE IF EXISTS match_ledger_keys",
    "DROP TABLE IF EXISTS match_report_keys",
)


@dataclass
class MatchResult:
    """What :func:`match` found.

    Attributes:
        totals: counts and per-currency totals of both sides.
        findings: every difference (state open), sorted by kind and reference.
        resolved_carried: (kind, reference) of carried ledger records a line matched.
        evidence: lines without a ledger record (any status), at most ``MAX_EVIDENCE``.
    """

    totals: RunTotals
    findings: list[Finding] = field(default_factory=list)
    resolved_carried: list[tuple[str, str]] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)


def match(
    con: duckdb.DuckDBPyConnection, provider: str, day: date, policy: ReconciliationPolicy
) -> MatchResult:
    """Match the ``report`` table to the ``ledger`` table and classify every difference.

    Args:
        con: a connection with ``report`` (:func:`load_report`) and a filled ``ledger``.
        provider: the provider's name (finding ids, details).
        day: the report's UTC date.
        policy: the review threshold and the timing window.

    Returns:
        The totals, findings, carried records resolved and evidence.
    """
    timing_from = datetime.combine(day + timedelta(days=1), time()) - timedelta(
        seconds=policy.timing_window_seconds
    )
    con.execute(KEY_REPORT)
    con.execute(KEY_LEDGER)
    con.execute(MULTI)
    con.execute(PAIRS, {"timing_from": timing_from})
    con.execute(DUPLICATES)
    con.execute(FINDING_ROWS)
    findings = [_finding(provider, day, policy, row) for row in con.execute(FINDINGS).fetchall()]
    matched = _scalar(con, MATCHED_COUNT)
    resolved = [(str(kind), str(ref)) for kind, ref in con.execute(RESOLVED_CARRIED).fetchall()]
    evidence = [
        _evidence(provider, day, row)
        for row in con.execute(EVIDENCE, {"limit": MAX_EVIDENCE}).fetchall()
    ]
    totals = RunTotals(
        report_lines=_scalar(con, "SELECT count(*) FROM report"),
        ledger_records=_scalar(con, "SELECT count(*) FROM ledger WHERE NOT carried"),
        matched=matched,
        with_findings=len(findings),
        report=_currency_totals(con, REPORT_TOTALS),
        ledger=_currency_totals(con, LEDGER_TOTALS),
    )
    for statement in DROP_MATCH_TABLES:
        con.execute(statement)
    return MatchResult(
        totals=totals, findings=findings, resolved_carried=resolved, evidence=evidence
    )


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _currency_totals(con: duckdb.DuckDBPyConnection, sql: str) -> list[CurrencyTotals]:
    return [
        CurrencyTotals(
            currency=currency, lines=int(lines), gross=int(gross), fee=int(fee), net=int(net)
        )
        for currency, lines, gross, fee, net in con.execute(sql).fetchall()
    ]


def _major(amount: int, currency: str) -> str:
    """``1,500 UGX``, ``1,500.00 KES``: major units with the currency's decimals."""
    exponent = _exponent(currency)
    return f"{Decimal(amount).scaleb(-exponent):,.{exponent}f} {currency}"


def _detail(provider: str, kind: FindingKind, row: dict[str, Any]) -> str:
    """The finding's one-line sentence for a person."""
    ref = row["r_reference"] or row["l_reference"]
    if kind is FindingKind.DUPLICATE:
        return (
            f"{provider} reports {ref} again on line {row['line_no']} "
            f"(first on line {row['first_line']})"
        )
    if kind is FindingKind.MISSING_IN_LEDGER:
        return (
            f"{provider} reports {_major(row['r_gross'], row['r_currency'])} for {ref} "
            f"({row['r_status']}); the ledger has no record of it"
        )
    if kind is FindingKind.MISSING_AT_PROVIDER:
        return (
            f"the ledger booked {_major(row['l_gross'], row['l_currency'])} for {ref}; "
            f"{provider}'s report leaves it out"
        )
    if kind is FindingKind.TIMING:
        at = row["l_occurred_at"].strftime("%H:%M:%S")
        return (
            f"the ledger booked {_major(row['l_gross'], row['l_currency'])} for {ref} at "
            f"{at} UTC; expected in {provider}'s next report"
        )
    if kind is FindingKind.STATUS_MISMATCH:
        return f"{provider} reports {ref} as {row['r_status']}; the ledger has it {row['l_status']}"
    if kind is FindingKind.FEE_MISMATCH:
        return (
            f"{provider} reports a fee of {_major(row['r_fee'], row['r_currency'])} for {ref}; "
            f"the ledger booked {_major(row['l_fee'], row['l_currency'])}"
        )
    # amount and currency mismatch: the same sentence shows both sides
    return (
        f"{provider} reports {_major(row['r_gross'], row['r_currency'])} for {ref}; "
        f"the ledger booked {_major(row['l_gross'], row['l_currency'])}"
    )


_FINDING_COLUMNS = (
    "finding",
    "key",
    "ordinal",
    "line_no",
    "r_txid",
    "r_reference",
    "r_kind",
    "r_status",
    "r_gross",
    "r_fee",
    "r_currency",
    "raw",
    "l_txid",
    "l_reference",
    "l_kind",
    "l_status",
    "l_gross",
    "l_fee",
    "l_currency",
    "l_occurred_at",
    "first_line",
)


def _at_stake(kind: FindingKind, row: dict[str, Any]) -> int:
    """The gap for amount and fee, else the gross of the side that has it (report's first)."""
    if kind is FindingKind.AMOUNT_MISMATCH:
        return abs(int(row["r_gross"]) - int(row["l_gross"]))
    if kind is FindingKind.FEE_MISMATCH:
        return abs(int(row["r_fee"]) - int(row["l_fee"]))
    gross = row["r_gross"] if row["r_gross"] is not None else row["l_gross"]
    return int(gross or 0)


def _finding(
    provider: str, day: date, policy: ReconciliationPolicy, values: tuple[Any, ...]
) -> Finding:
    row = dict(zip(_FINDING_COLUMNS, values, strict=True))
    kind = FindingKind(row["finding"])
    at_stake = _at_stake(kind, row)
    return Finding(
        id=finding_id(provider, day, kind.value, row["key"], int(row["ordinal"])),
        provider=provider,
        day=day,
        kind=kind,
        reference=row["r_reference"] or row["l_reference"],
        provider_transaction_id=row["r_txid"] or row["l_txid"],
        line_no=row["line_no"],
        currency=row["r_currency"] or row["l_currency"],
        report_gross=row["r_gross"],
        report_fee=row["r_fee"],
        report_currency=row["r_currency"],
        report_status=row["r_status"],
        ledger_gross=row["l_gross"],
        ledger_fee=row["l_fee"],
        ledger_currency=row["l_currency"],
        ledger_status=row["l_status"],
        at_stake=at_stake,
        detail=_detail(provider, kind, row),
        raw=row["raw"],
        review=kind is not FindingKind.TIMING and at_stake >= policy.review_amount_minor,
    )


def _evidence(provider: str, day: date, values: tuple[Any, ...]) -> Evidence:
    key, finding, reference, kind, txid, status, gross, currency, when = values
    return Evidence(
        finding_id=(
            finding_id(provider, day, FindingKind.MISSING_IN_LEDGER.value, key, 0)
            if finding == FindingKind.MISSING_IN_LEDGER.value
            else None
        ),
        reference=reference,
        kind=LineKind(kind),
        provider_transaction_id=txid,
        status=LineStatus(status),
        gross=int(gross),
        currency=currency,
        occurred_at=when.replace(tzinfo=UTC) if when is not None else None,
    )
