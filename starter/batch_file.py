"""Reading a batch payout file: CSV in, valid lines and every problem out.

A batch file is UTF-8 CSV (a BOM is accepted) whose first line is a header naming the
columns of :data:`~payments_engine.domain.batch.BATCH_COLUMNS` in any order and case
(``provider`` optional). Each further line is one payout, checked by the same rules as a
single payout: :meth:`Money.from_major <payments_engine.domain.money.Money.from_major>`
for the amount and currency, :class:`~payments_engine.domain.payout.PayoutRequest` for
the amount's sign, the country, the number (through
:func:`~payments_engine.domain.msisdn.field_msisdn`) and the narration,
:class:`~payments_engine.domain.batch.BatchLine` for the reference and the name, and
:func:`~payments_engine.activities.providers.registry.payout_spec` for the provider.
Nothing here re-states those rules; this module only maps cells to fields and gathers
the reasons.

Every problem of a line is reported together, as one
:class:`~payments_engine.domain.batch.LineProblem` (``amount: KES has 2 decimal places;
'10.005' has more; msisdn: not a valid number for KE``); problems of the whole file
(header, encoding, size) are on line 1. A reason never carries the line's number or
name: the reasons are those of :func:`payments_engine.starter.errors.problems` (which
leave input out), and any cell of those two columns is masked out of a reason should
another cell's message happen to quote it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from payments_engine.activities.providers.base import ProviderNotSupported
from payments_engine.activities.providers.registry import payout_spec
from payments_engine.domain.batch import (
    BATCH_COLUMNS,
    MAX_LINES,
    REQUIRED_COLUMNS,
    BatchLine,
    CurrencyTotal,
    LineProblem,
)
from payments_engine.domain.errors import InvalidMsisdn, ValidationFailed
from payments_engine.domain.money import Money
from payments_engine.domain.msisdn import field_msisdn
from payments_engine.domain.payout import DEFAULT_PROVIDER, PayoutRequest
from payments_engine.starter.errors import Problem, problems

__all__ = ["BatchFile", "read_batch_file"]

NO_LINES = "the file has no payout lines"

# problems() names fields as the CLI's options; a batch file names them as its columns.
_COLUMN_OF_FIELD = {
    "phone": "msisdn",
    "payer-name": "name",
    "description": "narration",
    "id": "reference",
}
_COLUMN_ORDER = {column: index for index, column in enumerate(BATCH_COLUMNS)}
# PayoutRequest wants a payout id; the line's real one (batch id and reference) is
# only known when the batch is created, and the reference is checked by BatchLine.
_PLACEHOLDER_PAYOUT_ID = "batch-line"
# A header cell quoted in a message: a column name, not a data cell (a number, a name).
_COLUMN_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9_ .-]{0,39}")
_MASK = "***"
_MIN_MASKED = 3


@dataclass(frozen=True)
class BatchFile:
    """What :func:`read_batch_file` found in a batch file.

    Attributes:
        lines: the valid lines, in file order.
        problems: every bad line (its line number and reason), in file order; a problem
            of the whole file (header, encoding, size) is on line 1 and comes alone.
        sha256: hex SHA-256 of the file's bytes, as given (BOM included).
        totals: lines and minor units of the valid lines, per currency, by code.
    """

    lines: list[BatchLine]
    problems: list[LineProblem]
    sha256: str
    totals: list[CurrencyTotal]


def read_batch_file(data: bytes, *, default_provider: str = DEFAULT_PROVIDER) -> BatchFile:
    """Parse and check the batch file ``data``: its valid lines and all its problems.

    Blank lines are skipped. A line is valid when every cell passes the single-payout
    rules and its reference is the first of its value in the file; a line in error is
    left out of ``lines`` and reported once in ``problems`` with all its reasons.

    Args:
        data: the file's bytes (UTF-8, optionally with a BOM).
        default_provider: the provider of the lines that name none (no ``provider``
            column, or an empty cell); it must pay out, like any line's provider.

    Returns:
        The valid lines, the problems, the file's hash and the totals per currency.
    """
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _refused(digest, _not_utf8(data, exc))
    try:
        rows = _rows(text)
    except csv.Error as exc:
        return _refused(digest, f"the file cannot be read as CSV: {exc}")
    if not rows:
        return _refused(digest, NO_LINES)
    (_, header), body = rows[0], rows[1:]
    columns, header_problems = _columns(header)
    if header_problems:
        return _refused(digest, "; ".join(header_problems))
    if not body:
        return _refused(digest, NO_LINES)
    if len(body) > MAX_LINES:
        return _refused(
            digest, f"the file has {len(body)} payout lines; a batch has at most {MAX_LINES}"
        )
    return _check_lines(body, columns, default_provider, digest)


def _refused(digest: str, reason: str) -> BatchFile:
    """The file refused as a whole: one problem on line 1, no line."""
    problem = LineProblem(line_no=1, reason=reason)
    return BatchFile(lines=[], problems=[problem], sha256=digest, totals=[])


def _not_utf8(data: bytes, exc: UnicodeDecodeError) -> str:
    """Why ``data`` is refused: the line and the value of its first byte that is not UTF-8."""
    line = data.count(b"\n", 0, exc.start) + 1
    byte = data[exc.start : exc.start + 1].hex()
    return f"the file is not UTF-8 text: line {line} has the byte 0x{byte}; save it as 'CSV UTF-8'"


def _rows(text: str) -> list[tuple[int, list[str]]]:
    """The file's non-blank rows with the line each starts on (a quoted cell may span lines).

    Raises:
        csv.Error: the text is not CSV (a cell larger than the csv module's limit ...).
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    start = 1
    for row in reader:
        if any(cell.strip() for cell in row):
            rows.append((start, row))
        start = reader.line_num + 1
    return rows


def _columns(header: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """The index of each column named by ``header``, and what is wrong with the header."""
    names = [cell.strip().lower() for cell in header]
    columns: dict[str, int] = {}
    found: list[str] = []
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        separator = "';'" if ";" in names[0] else "a tab"
        return columns, [f"the columns are separated by {separator}; separate them by ','"]
    if not any(name in REQUIRED_COLUMNS for name in names):
        # Likely no header at all: its cells are a payout's (a number, a name); not quoted.
        return columns, [
            "the first line is not a header: it names none of the columns "
            + ", ".join(REQUIRED_COLUMNS)
        ]
    for index, name in enumerate(names):
        if not name:
            found.append(f"column {index + 1} of the header has no name")
        elif name not in _COLUMN_ORDER:
            shown = repr(name) if _COLUMN_LIKE.fullmatch(name) else f"in column {index + 1}"
            found.append(f"unknown column {shown}; the columns are {', '.join(BATCH_COLUMNS)}")
        elif name in columns:
            found.append(f"column {name!r} appears twice")
        else:
            columns[name] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        found.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    return columns, found


def _check_lines(
    body: Sequence[tuple[int, list[str]]],
    columns: dict[str, int],
    default_provider: str,
    digest: str,
) -> BatchFile:
    """Check each data line against the single-payout rules and the references before it."""
    width = max(columns.values()) + 1
    lines: list[BatchLine] = []
    found: list[LineProblem] = []
    first_line_of: dict[str, int] = {}
    totals: dict[str, list[int]] = {}
    for line_no, row in body:
        if len(row) != width:
            found.append(
                LineProblem(
                    line_no=line_no, reason=f"the line has {len(row)} cells; the header has {width}"
                )
            )
            continue
        cells = {name: row[index].strip() for name, index in columns.items()}
        reference = cells["reference"]
        repeated = first_line_of.setdefault(reference, line_no) if reference else line_no
        line, reasons = _check_line(line_no, cells, default_provider)
        if repeated != line_no:
            reasons.append(Problem(None, f"reference {reference[:40]!r} repeats line {repeated}"))
        if reasons:
            reason = _masked(_joined(reasons), (cells["msisdn"], cells["name"]))
            found.append(LineProblem(line_no=line_no, reason=reason))
        elif line is not None:
            lines.append(line)
            total = totals.setdefault(line.amount.currency, [0, 0])
            total[0] += 1
            total[1] += line.amount.amount
    return BatchFile(
        lines=lines,
        problems=found,
        sha256=digest,
        totals=[
            CurrencyTotal(currency=code, lines=count, amount=amount)
            for code, (count, amount) in sorted(totals.items())
        ],
    )


def _check_line(
    line_no: int, cells: dict[str, str], default_provider: str
) -> tuple[BatchLine | None, list[Problem]]:
    """The line of ``cells`` if valid, and the problems found (all of them)."""
    found: list[Problem] = []
    provider = cells.get("provider") or default_provider
    narration = cells["narration"] or None

    money: Money | None = None
    try:
        money = Money.from_major(cells["amount"], cells["currency"])
    except ValidationFailed as exc:
        found.extend(problems(exc))

    try:
        payout_spec(provider)
    except ProviderNotSupported as exc:
        found.append(Problem("provider", str(exc)))

    request: PayoutRequest | None = None
    try:
        request = PayoutRequest(
            payout_id=_PLACEHOLDER_PAYOUT_ID,
            amount=money,  # type: ignore[arg-type]  # None: its problem is already found
            recipient_msisdn=cells["msisdn"],
            country=cells["country"],
            provider=provider,
            description=narration,
        )
    except ValidationError as exc:
        found.extend(_model_problems(exc, money))
        # The model checks the number after its fields: a refused field skipped it.
        if not _has(found, "phone", "country"):
            try:
                field_msisdn(cells["msisdn"], cells["country"])
            except InvalidMsisdn as msisdn_exc:
                found.extend(problems(msisdn_exc))

    line: BatchLine | None = None
    try:
        line = BatchLine(
            line_no=line_no,
            reference=cells["reference"],
            amount=money,  # type: ignore[arg-type]  # None: its problem is already found
            msisdn=request.recipient_msisdn if request else cells["msisdn"],
            country=request.country if request else cells["country"],
            name=cells["name"] or None,
            narration=narration,
            provider=provider,
        )
    except ValidationError as exc:
        found.extend(_model_problems(exc, money))
    if found:
        return None, [_of_country(problem, cells["country"]) for problem in found]
    return line, found


def _model_problems(exc: ValidationError, money: Money | None) -> list[Problem]:
    """The problems of a model's ValidationError, less the amount's when it is missing.

    A missing amount (None) was refused by ``Money.from_major``, whose reason is found.
    """
    return [p for p in problems(exc) if money is not None or p.field != "amount"]


def _of_country(problem: Problem, country: str) -> Problem:
    """A number's problem says which country it was checked against."""
    if problem.field != "phone" or not country or country.upper() in problem.reason:
        return problem
    return Problem(problem.field, f"{problem.reason} for {country.upper()}")


def _has(found: Iterable[Problem], *fields: str) -> bool:
    """True if one of ``found`` is of one of ``fields`` (CLI names)."""
    return any(problem.field in fields for problem in found)


def _joined(found: Iterable[Problem]) -> str:
    """The reasons of a line, ``"; "``-joined, in column order.

    One ``column: reason`` per refused column (its first reason), then the reasons of no
    column (a repeated reference).
    """
    by_column: dict[str, str] = {}
    others: list[str] = []
    for problem in found:
        if problem.field is None:
            others.append(problem.reason)
        else:
            by_column.setdefault(_COLUMN_OF_FIELD.get(problem.field, problem.field), problem.reason)
    ordered = sorted(by_column, key=lambda column: _COLUMN_ORDER.get(column, len(_COLUMN_ORDER)))
    return "; ".join([f"{column}: {by_column[column]}" for column in ordered] + others)


def _masked(reason: str, secrets: Iterable[str]) -> str:
    """``reason`` with any of ``secrets`` (the line's number and name) masked out.

    A safety net: a message of another cell may quote them (a number typed in the
    currency column, a name in the provider column).
    """
    for secret in secrets:
        if len(secret) >= _MIN_MASKED and secret in reason:
            reason = reason.replace(secret, _MASK)
    return reason
