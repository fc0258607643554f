"""Daily settlement reports of the simulated providers, with fault injection.

Every provider publishes, per UTC date, the transactions that became final and settle on
that date: one line each with the provider's transaction id, our reference, the type,
gross, fee and net amounts, the currency, the final status, the transaction time and
the settlement date. Each simulator maps its records to :class:`Line` objects and names
the columns and writes the numbers its own way (:class:`ReportFormat`); this module
builds the report, applies the faults set for a date and serves it as CSV (streamed,
resumable with ``Range: bytes=N-``) or JSON.

A report is reproducible: the same state and date give the same bytes (lines in
transaction time, then transaction id order; faults applied in a fixed way).
"""

# No ``from __future__ import annotations``: FastAPI must see the route functions'
# dependencies of the closures, which a string would hide.

import csv
import hashlib
import io
import json
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

import holidays
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from payments_engine.domain.money import currency_exponent
from payments_engine.sandbox.common.http import ApiError, describe_errors, error_route_class
from payments_engine.sandbox.common.state import SimulatorState
from payments_engine.sandbox.common.store import SimulatorStore

KIND = "settlement_faults"
"""The state-file kind of a date's faults."""

LINE_TYPES = frozenset(
    {
        "payout",
        "collection",
        "refund",
        "reversal",
        "fee",
        "cash_payment",
        "card_capture",
        "card_refund",
        "transfer",
    }
)
"""The kinds of line a report may hold; each provider writes them in its own words."""

CHUNK_BYTES = 16 * 1024
CASH_SETTLEMENT_BUSINESS_DAYS = 3

FaultKind = Literal[
    "missing_line",
    "unknown_line",
    "amount_difference",
    "fee_difference",
    "currency_mixup",
    "duplicate_line",
    "status_difference",
    "next_day",
    "truncated",
]

FAULT_DOCS: dict[str, str] = {
    "missing_line": "the line of `reference` is left out",
    "unknown_line": "a plausible line for a reference we never made is added "
    "(`reference`, `delta` as gross and `currency` optional)",
    "amount_difference": "the gross of `reference` changes by `delta` minor units; net follows",
    "fee_difference": "the fee of `reference` changes by `delta` minor units; net follows",
    "currency_mixup": "the line of `reference` shows another currency (`currency`, or one chosen)",
    "duplicate_line": "the line of `reference` appears twice",
    "status_difference": "the line of `reference` shows another final status "
    "(`status`, or one chosen); net follows",
    "next_day": "the line of `reference` moves to the next date's report",
    "truncated": "the CSV is cut in the middle of a line near the end (JSON cut too)",
}

_UNREFERENCED = {"unknown_line", "truncated"}
_MIXUP_CURRENCIES = ("USD", "EUR", "KES", "COP")


# -- lines -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One report line, amounts in minor units.

    Attributes:
        transaction_id: the provider's id of the transaction.
        reference: ours (the engine's workflow id the transaction was made for).
        kind: one of :data:`LINE_TYPES`.
        type: the provider's word for ``kind``.
        gross: the transaction's amount.
        fee: the provider's fee.
        moved: money moved (a success): net is gross less fee; else net is 0.
        status: the provider's final status word.
        transaction_time: when the status became final (UTC).
        settlement_date: the report it belongs to.
    """

    transaction_id: str
    reference: str
    kind: str
    type: str
    gross: int
    fee: int
    currency: str
    status: str
    moved: bool
    transaction_time: datetime
    settlement_date: date

    def __post_init__(self) -> None:
        """Refuse a kind outside :data:`LINE_TYPES`."""
        if self.kind not in LINE_TYPES:
            raise ValueError(f"unknown line kind {self.kind!r}")

    @property
    def net(self) -> int:
        """Gross less fee when money moved, else 0."""
        return self.gross - self.fee if self.moved else 0


def utc_date(moment: datetime) -> date:
    """The UTC date of an aware datetime."""
    return moment.astimezone(UTC).date()


def business_days_after(day: date, count: int, country: str) -> date:
    """The date ``count`` business days after ``day`` (weekends and holidays skipped)."""
    calendar = holidays.country_holidays(country, years=range(day.year, day.year + 2))
    current = day
    left = count
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in calendar:
            left -= 1
    return current


# -- formats ---------------------------------------------------------------------------


def major_amount(amount: int, currency: str) -> str:
    """Major units with the currency's decimals (UGX ``1500``, KES ``1500.00``)."""
    exponent = currency_exponent(currency)
    value = Decimal(amount).scaleb(-exponent)
    return f"{value:.{exponent}f}"


def two_decimals(amount: int, currency: str) -> str:
    """Major units always with two decimals, zero-decimal currencies too (``1500.00``)."""
    value = Decimal(amount).scaleb(-currency_exponent(currency))
    return f"{value.quantize(Decimal('0.01')):.2f}"


def whole_units(amount: int, currency: str) -> str:
    """Whole major units, rounded half up (Efecty's pesos)."""
    value = Decimal(amount).scaleb(-currency_exponent(currency))
    return str(int(value.to_integral_value(rounding="ROUND_HALF_UP")))


@dataclass(frozen=True)
class ReportFormat:
    """How a provider names its columns and writes its numbers.

    Attributes:
        columns: the names of, in this order: transaction id, reference, type, gross,
            fee, net, currency, status, transaction time, settlement date.
        amount: writes minor units of a currency.
        statuses: the provider's final status words, for ``status_difference``.
        types: the provider's word per line kind it uses.
    """

    columns: tuple[str, str, str, str, str, str, str, str, str, str]
    amount: Callable[[int, str], str]
    statuses: tuple[str, ...]
    types: dict[str, str]

    def row(self, line: Line) -> list[str]:
        """The CSV cells of ``line``."""
        return [
            line.transaction_id,
            line.reference,
            line.type,
            self.amount(line.gross, line.currency),
            self.amount(line.fee, line.currency),
            self.amount(line.net, line.currency),
            line.currency,
            line.status,
            line.transaction_time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            line.settlement_date.isoformat(),
        ]

    def record(self, line: Line) -> dict[str, str]:
        """The JSON object of ``line``."""
        return dict(zip(self.columns, self.row(line), strict=True))


# -- faults ----------------------------------------------------------------------------


class SettlementFault(BaseModel):
    """One fault of a date's report.

    Attributes:
        kind: what goes wrong.
        reference: our reference of the line it applies to (all kinds but
            ``unknown_line`` and ``truncated``); for ``unknown_line`` the made-up
            reference, chosen if left out.
        delta: minor units for ``amount_difference``/``fee_difference``; the gross of
            an ``unknown_line`` (default 1000 minor units).
        currency: the code ``currency_mixup`` or ``unknown_line`` shows.
        status: the status ``status_difference`` shows.
    """

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    reference: str | None = Field(default=None, min_length=1, max_length=200)
    delta: int = 0
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    status: str | None = Field(default=None, min_length=1, max_length=50)

    @model_validator(mode="after")
    def _needs_reference(self) -> Self:
        if self.kind not in _UNREFERENCED and self.reference is None:
            raise ValueError(f"a {self.kind} fault names a reference")
        return self


class FaultBook:
    """The faults per report date of one store, kept in its state file if it has one."""

    def __init__(self, store: SimulatorStore[Any, Any]) -> None:
        """Load the faults the store's state file holds."""
        self._store = store
        self.generation = store.generation
        self._faults: dict[str, list[SettlementFault]] = {}
        for key, document in store.load_documents(KIND):
            faults = [SettlementFault.model_validate(item) for item in document["faults"]]
            if faults:
                self._faults[key] = faults

    def get(self, day: date) -> list[SettlementFault]:
        """The faults of ``day``'s report."""
        return list(self._faults.get(day.isoformat(), []))

    def put(self, day: date, faults: Sequence[SettlementFault]) -> None:
        """Replace the faults of ``day``'s report (none clears them) and write them."""
        key = day.isoformat()
        if faults:
            self._faults[key] = list(faults)
        else:
            self._faults.pop(key, None)
        kept = [fault.model_dump(exclude_defaults=True) for fault in faults]
        self._store.save_document(KIND, key, {"faults": kept})


_BOOKS: "weakref.WeakKeyDictionary[SimulatorStore[Any, Any], FaultBook]" = (
    weakref.WeakKeyDictionary()
)


def fault_book(store: SimulatorStore[Any, Any]) -> FaultBook:
    """The fault book of ``store``, loaded on first use and again after a reset."""
    book = _BOOKS.get(store)
    if book is None or book.generation != store.generation:
        book = _BOOKS[store] = FaultBook(store)
    return book


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()


def _order(line: Line) -> tuple[datetime, str]:
    return (line.transaction_time, line.transaction_id)


def report_lines(
    lines: Iterable[Line],
    day: date,
    faults_of: Callable[[date], Sequence[SettlementFault]],
    report_format: ReportFormat,
) -> tuple[list[Line], bool]:
    """The lines of ``day``'s report after its faults, and whether it is truncated.

    Args:
        lines: every final line the provider holds (any settlement date).
        day: the report's date.
        faults_of: the faults set for a date.
        report_format: the provider's status and type words, for made-up lines.
    """
    previous = day - timedelta(days=1)
    moved_out = {f.reference for f in faults_of(day) if f.kind == "next_day"}
    moved_in = {f.reference for f in faults_of(previous) if f.kind == "next_day"}
    selected: list[Line] = []
    for line in lines:
        if line.settlement_date == day and line.reference not in moved_out:
            selected.append(line)
        elif line.settlement_date == previous and line.reference in moved_in:
            selected.append(replace(line, settlement_date=day))
    selected.sort(key=_order)
    truncated = False
    for index, fault in enumerate(faults_of(day)):
        if fault.kind == "truncated":
            truncated = True
        elif fault.kind == "unknown_line":
            selected.append(_unknown_line(selected, day, index, fault, report_format))
        else:
            selected = _apply(selected, fault, report_format)
    selected.sort(key=_order)
    return selected, truncated


def _unknown_line(
    selected: list[Line],
    day: date,
    index: int,
    fault: SettlementFault,
    report_format: ReportFormat,
) -> Line:
    template = selected[0] if selected else None
    seed = _digest(day, index, fault.reference)
    kind = template.kind if template else next(iter(report_format.types))
    return Line(
        transaction_id=(template.transaction_id[:4] if template else "TX") + seed[:12],
        reference=fault.reference or f"payout-unknown-{seed[:8]}",
        kind=kind,
        type=report_format.types[kind],
        gross=fault.delta or 1000,
        fee=0,
        currency=fault.currency or (template.currency if template else "USD"),
        status=report_format.statuses[0],
        moved=True,
        transaction_time=datetime.combine(day, time(12, int(seed[:2], 16) % 60), UTC),
        settlement_date=day,
    )


def _apply(lines: list[Line], fault: SettlementFault, report_format: ReportFormat) -> list[Line]:
    result: list[Line] = []
    for line in lines:
        if line.reference != fault.reference:
            result.append(line)
            continue
        match fault.kind:
            case "missing_line":
                continue
            case "amount_difference":
                result.append(replace(line, gross=line.gross + fault.delta))
            case "fee_difference":
                result.append(replace(line, fee=line.fee + fault.delta))
            case "currency_mixup":
                other = fault.currency or next(
                    code for code in _MIXUP_CURRENCIES if code != line.currency
                )
                result.append(replace(line, currency=other))
            case "duplicate_line":
                result.extend((line, line))
            case "status_difference":
                other = fault.status or next(
                    word for word in report_format.statuses if word != line.status
                )
                # The provider's own sums follow its status: net is 0 unless it paid.
                result.append(replace(line, status=other, moved=other == report_format.statuses[0]))
            case _:
                result.append(line)
    return result


# -- rendering -------------------------------------------------------------------------


def render_csv(lines: Sequence[Line], report_format: ReportFormat, *, truncated: bool) -> bytes:
    """The CSV bytes of a report; a truncated one is cut in the middle of its last line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(report_format.columns)
    last = ""
    for line in lines:
        before = buffer.tell()
        writer.writerow(report_format.row(line))
        last = buffer.getvalue()[before:]
    body = buffer.getvalue().encode("utf-8")
    if truncated:
        tail = len((last or buffer.getvalue()).encode("utf-8"))
        body = body[: len(body) - tail + tail // 2]
    return body


def render_json(lines: Sequence[Line], report_format: ReportFormat, *, truncated: bool) -> bytes:
    """The JSON bytes of a report (a list of objects); a truncated one is cut too."""
    body = json.dumps([report_format.record(line) for line in lines]).encode("utf-8")
    if truncated:
        body = body[: max(1, len(body) * 3 // 4)]
    return body


def _range_start(header: str | None, size: int) -> int | None:
    """The first byte a ``Range: bytes=N-`` (or ``N-M``) header asks for; None for all."""
    if not header or not header.startswith("bytes="):
        return None
    first = header.removeprefix("bytes=").split(",")[0].split("-")[0].strip()
    if not first.isdigit():
        return None
    return int(first)


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), CHUNK_BYTES):
        yield body[start : start + CHUNK_BYTES]


def csv_response(body: bytes, request: Request, filename: str) -> Response:
    """The streamed CSV, whole (200) or from the ``Range`` start on (206)."""
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    start = _range_start(request.headers.get("range"), len(body))
    if start is None:
        headers["Content-Length"] = str(len(body))
        return StreamingResponse(_chunks(body), media_type="text/csv", headers=headers)
    if start >= len(body):
        return Response(status_code=416, headers={"Content-Range": f"bytes */{len(body)}"})
    part = body[start:]
    headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
    headers["Content-Length"] = str(len(part))
    return StreamingResponse(_chunks(part), status_code=206, media_type="text/csv", headers=headers)


# -- routes ----------------------------------------------------------------------------

LinesOf = Callable[[Any], Iterable[Line]]
"""Every final line of a simulator's store."""


@dataclass(frozen=True)
class Publisher:
    """What a simulator brings to publish its reports.

    Attributes:
        name: the simulator's name (file names, docs).
        report_format: its columns and numbers.
        lines_of: its final lines, from its store.
        get_state: FastAPI dependency returning its state.
    """

    name: str
    report_format: ReportFormat
    lines_of: LinesOf
    get_state: Callable[[Request], SimulatorState[Any, Any]]

    def report(self, state: SimulatorState[Any, Any], day: date) -> tuple[list[Line], bool]:
        """The lines of ``day``'s report, after faults, and whether it is truncated."""
        state.store.advance()
        book = fault_book(state.store)
        return report_lines(self.lines_of(state.store), day, book.get, self.report_format)


def parse_day(text: str, error: Callable[[str], ApiError]) -> date:
    """A ``YYYY-MM-DD`` path date; anything else raises ``error``'s 400."""
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise error(f"the date {text[:20]!r} is not YYYY-MM-DD") from None


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "400", message)


def provider_router(
    publisher: Publisher,
    path: str,
    guard: Callable[..., Any],
    *,
    error: Callable[[str], ApiError] = _bad_request,
) -> APIRouter:
    """The provider's ``GET <path>/{date}?format=csv|json``, behind its ``guard``.

    Args:
        publisher: the simulator's report.
        path: the reports' path under the provider's prefix (``/v1/settlements``).
        guard: the provider API's authentication dependency.
        error: the provider's 400 answer for a bad date or format.
    """

    def invalid(exc: RequestValidationError) -> ApiError:
        return error(describe_errors(exc.errors()))

    router = APIRouter(
        route_class=error_route_class(invalid),
        dependencies=[DependsParam(guard)],
        tags=[f"{publisher.name} settlements"],
    )

    @router.get(
        path + "/{day}",
        summary="The daily settlement report",
        response_model=None,
        responses={200: {"content": {"text/csv": {}}}, 206: {"description": "a byte range"}},
    )
    async def settlement_report(
        day: str,
        request: Request,
        state: Annotated[SimulatorState[Any, Any], Depends(publisher.get_state)],
        format: Literal["csv", "json"] = "csv",  # noqa: A002 - the query parameter's name
    ) -> Response:
        """The transactions final and settled on ``day`` (UTC, ``YYYY-MM-DD``)."""
        when = parse_day(day, error)
        lines, truncated = publisher.report(state, when)
        if format == "json":
            body = render_json(lines, publisher.report_format, truncated=truncated)
            return Response(body, media_type="application/json")
        body = render_csv(lines, publisher.report_format, truncated=truncated)
        return csv_response(body, request, f"{publisher.name}-settlement-{day}.csv")

    return router


def admin_router(publisher: Publisher) -> APIRouter:
    """``GET /settlements/{date}`` (JSON, no auth) and ``GET|PUT|DELETE .../faults``."""
    router = APIRouter(tags=[f"admin: {publisher.name} settlements"])
    state_dep = Annotated[SimulatorState[Any, Any], Depends(publisher.get_state)]

    def day_of(text: str) -> date:
        return parse_day(text, _bad_request)

    def bad(exc: ApiError) -> JSONResponse:
        return exc.response()

    @router.get("/settlements/{day}", response_model=None)
    async def admin_report(day: str, state: state_dep) -> Response:  # type: ignore[valid-type]
        """The report of ``day`` as JSON, faults applied."""
        try:
            when = day_of(day)
        except ApiError as exc:
            return bad(exc)
        lines, truncated = publisher.report(state, when)
        body = render_json(lines, publisher.report_format, truncated=truncated)
        return Response(body, media_type="application/json")

    @router.get("/settlements/{day}/faults", response_model=None)
    async def get_report_faults(day: str, state: state_dep) -> Any:  # type: ignore[valid-type]
        """The faults set for ``day``'s report."""
        try:
            when = day_of(day)
        except ApiError as exc:
            return bad(exc)
        return [f.model_dump(exclude_defaults=True) for f in fault_book(state.store).get(when)]

    @router.put("/settlements/{day}/faults", response_model=None)
    async def put_report_faults(
        day: str,
        faults: list[SettlementFault],
        state: state_dep,  # type: ignore[valid-type]
    ) -> Any:
        """Replace the faults of ``day``'s report."""
        try:
            when = day_of(day)
        except ApiError as exc:
            return bad(exc)
        fault_book(state.store).put(when, faults)
        return [f.model_dump(exclude_defaults=True) for f in faults]

    @router.delete("/settlements/{day}/faults", response_model=None)
    async def delete_report_faults(day: str, state: state_dep) -> Any:  # type: ignore[valid-type]
        """Clear the faults of ``day``'s report."""
        try:
            when = day_of(day)
        except ApiError as exc:
            return bad(exc)
        fault_book(state.store).put(when, [])
        return []

    return router


def markdown_table(endpoints: Sequence[tuple[str, str]] = ()) -> str:
    """The settlement endpoints and fault kinds as markdown tables, for the README.

    Args:
        endpoints: (provider, report path) pairs; the defaults are every simulator's.
    """
    rows = endpoints or DEFAULT_ENDPOINTS
    lines = [
        "| Provider | Report (provider auth) | Admin (no auth) |",
        "| --- | --- | --- |",
    ]
    for name, path in rows:
        lines.append(
            f"| {name} | `GET {path}/{{date}}?format=csv\\|json` (CSV: `Range: bytes=N-`) | "
            f"`GET /admin/{name}/settlements/{{date}}`, "
            f"`GET\\|PUT\\|DELETE /admin/{name}/settlements/{{date}}/faults` |"
        )
    lines += ["", "| Fault kind | Effect |", "| --- | --- |"]
    lines += [f"| `{kind}` | {text} |" for kind, text in FAULT_DOCS.items()]
    return "\n".join(lines)


DEFAULT_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("hub", "/hub/v1/settlements"),
    ("momo", "/momo/v1_0/settlements"),
    ("issuer", "/issuer/v1/settlements"),
    ("efecty", "/efecty/v4/settlements"),
    ("oxxo", "/oxxo/v1/settlements"),
    ("bank", "/bank/v1/settlements"),
)
