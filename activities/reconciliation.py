"""Reconciliation activities: fetch a provider's daily report, match it, store the result.

``reconcile`` is one activity on purpose: the report file it downloads lives on the
worker's disk, so downloading, parsing, matching and storing run where the file is.
It heartbeats through every phase; a retried attempt on the same worker resumes the
download from the bytes the last heartbeat recorded (``Range: bytes=N-``), and on
another worker starts the download again. Parsing and matching run in DuckDB (see
``activities/matching.py``) in a worker thread, so the event loop keeps heartbeating.

Nothing is half-written: the run's findings are stored in one database transaction at
the end; a report that cannot be read fails the run with an error naming the line
(``ReportInvalid``, final) and stores only that error. The raw report is kept in the
worker's data directory, named by date and content hash.

``alert`` tells the merchant's people (its alert hook) that findings wait for review;
``note_evidence`` records which findings were handed to their workflow.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal, ParamSpec, Protocol, TypeVar

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from payments_engine.activities.hooks import raise_alert
from payments_engine.activities.matching import (
    MatchResult,
    create_ledger_table,
    load_report,
    match,
    open_duckdb,
)
from payments_engine.activities.protocol import to_application_error
from payments_engine.activities.providers.base import (
    ProviderFault,
    ProviderNotSupported,
    Refused,
    Transient,
    read_status,
)
from payments_engine.activities.providers.registry import report_spec
from payments_engine.db.reconciliation import CompletedRun, ReconciliationStore
from payments_engine.domain.errors import (
    PaymentsError,
    ProviderNotConfigured,
    ProviderRejected,
    ReportInvalid,
)
from payments_engine.domain.reconciliation import (
    AlertInput,
    EvidenceNote,
    FindingKind,
    ReconcileInput,
    ReconcileOutput,
    ReconciliationPolicy,
    ReportSpec,
)

P = ParamSpec("P")
T = TypeVar("T")

HEARTBEAT_EVERY_SECONDS = 5.0


class InThread(Protocol):
    """Runs a blocking DuckDB step off the event loop."""

    async def __call__(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...


CHUNK_BYTES = 256 * 1024
ALERT_KIND = "reconciliation_findings"


class ReconciliationActivities:
    """The reconciliation activities, on the clients and stores the worker built.

    Args:
        reports: provider name -> its HTTP client (base URL and credentials), for the
            providers this worker may download reports from.
        store: the runs, findings and the ledger's provider transactions.
        workdir: where reports are kept and DuckDB may spill (the worker's data dir).
        hooks: the merchant's alert hook; None raises no alert.
        memory_limit: DuckDB's memory limit (``512MB``).
    """

    def __init__(
        self,
        reports: Mapping[str, httpx.AsyncClient],
        store: ReconciliationStore,
        workdir: Path,
        hooks: httpx.AsyncClient | None = None,
        memory_limit: str = "512MB",
    ) -> None:
        self._reports = reports
        self._store = store
        self._workdir = workdir
        self._hooks = hooks
        self._memory_limit = memory_limit

    @activity.defn
    async def reconcile(self, inp: ReconcileInput) -> ReconcileOutput:
        """Fetch, parse and match one provider's report for one date; store the outcome.

        Raises:
            ApplicationError: final with type ``ReportInvalid`` (the report cannot be
                read: the message names the line) or ``ProviderNotConfigured`` (no report
                from that provider here); retryable while the provider is unreachable.
        """
        try:
            spec = _spec(inp.provider)
        except PaymentsError as exc:
            raise _final(exc) from None
        source = "file" if inp.file else "download"
        await self._store.begin_run(
            inp.provider, inp.day, workflow_id=inp.workflow_id, source=source
        )
        activity.heartbeat("started")
        try:
            raw = await self._fetch(inp, spec)
            digest = await asyncio.to_thread(_sha256, raw)
            kept = self._keep(raw, inp, digest)
            result, saved = await reconcile_file(
                self._store,
                kept,
                spec,
                inp.provider,
                inp.day,
                inp.policy,
                workdir=self._workdir,
                memory_limit=self._memory_limit,
                in_thread=self._in_thread,
                report_sha256=digest,
            )
        except ReportInvalid as exc:
            message = f"{inp.provider} report of {inp.day}: {exc}"
            await self._store.fail_run(inp.provider, inp.day, error=message)
            raise _final(ReportInvalid(message)) from None
        by_kind: dict[str, int] = {}
        review_amount: dict[str, int] = {}
        review = 0
        for finding in result.findings:
            by_kind[finding.kind] = by_kind.get(finding.kind, 0) + 1
            if finding.review and finding.kind is not FindingKind.TIMING:
                review += 1
                currency = finding.currency or "?"
                review_amount[currency] = review_amount.get(currency, 0) + finding.at_stake
        activity.logger.info(
            "reconciled %s %s: %d lines, %d matched, %d findings",
            inp.provider,
            inp.day,
            result.totals.report_lines,
            result.totals.matched,
            len(result.findings),
        )
        return ReconcileOutput(
            totals=result.totals,
            findings=by_kind,
            review=review,
            review_amount=review_amount,
            auto_resolved=saved.auto_resolved,
            evidence=result.evidence,
            report_sha256=digest,
        )

    @activity.defn
    async def alert(self, inp: AlertInput) -> bool:
        """Raise one alert about a run's findings at the merchant's alert hook.

        Returns:
            False when no hook is configured (nothing was called).

        Raises:
            ApplicationError: retryable while the hook is unreachable or answers 5xx;
                final when it refuses (4xx).
        """
        if self._hooks is None:
            return False
        amounts = ", ".join(
            f"{amount} {code}" for code, amount in sorted(inp.review_amount.items())
        )
        await raise_alert(
            self._hooks,
            inp.key,
            ALERT_KIND,
            f"reconciliation {inp.provider} {inp.day.isoformat()}",
            f"{inp.review} finding(s) of the {inp.provider} settlement report of "
            f"{inp.day.isoformat()} need review (at stake, minor units: {amounts or 'none'})",
            inp.model_dump(mode="json"),
        )
        return True

    @activity.defn
    async def note_evidence(self, inp: EvidenceNote) -> int:
        """Mark findings whose report line was handed to their workflow."""
        return await self._store.mark_evidence(inp.finding_ids)

    # -- helpers -----------------------------------------------------------------------

    async def _fetch(self, inp: ReconcileInput, spec: ReportSpec) -> Path:
        """The report as a local file: the person's file, or the provider's download."""
        if inp.file:
            path = Path(inp.file)
            if not path.is_file():
                raise ReportInvalid(f"no report file at {inp.file}")
            return path
        http = self._reports.get(inp.provider)
        if http is None:
            raise _final(
                ProviderNotConfigured(f"provider {inp.provider!r} is not configured on this worker")
            )
        folder = self._workdir / "reports" / inp.provider
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f"{inp.day.isoformat()}.{inp.run_id}.part"
        return await download(http, spec.path.format(date=inp.day.isoformat()), part)

    def _keep(self, raw: Path, inp: ReconcileInput, digest: str) -> Path:
        """Keep the raw report as ``reports/<provider>/<date>.<sha256[:12]>.<ext>``."""
        folder = self._workdir / "reports" / inp.provider
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ".json" if _format_of(raw) == "json" else ".csv"
        kept = folder / f"{inp.day.isoformat()}.{digest[:12]}{suffix}"
        if raw.resolve() == kept.resolve():
            return kept
        if inp.file:
            shutil.copyfile(raw, kept)
        else:
            raw.replace(kept)
        return kept

    async def _in_thread(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a DuckDB step in a thread, heartbeating while it runs."""
        task = asyncio.ensure_future(asyncio.to_thread(function, *args, **kwargs))
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY_SECONDS)
            if done:
                return task.result()
            activity.heartbeat(getattr(function, "__name__", "working"))


async def _plain_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    return await asyncio.to_thread(function, *args, **kwargs)


async def reconcile_file(
    store: ReconciliationStore,
    report: Path,
    spec: ReportSpec,
    provider: str,
    day: date,
    policy: ReconciliationPolicy,
    *,
    workdir: Path,
    report_sha256: str,
    memory_limit: str = "512MB",
    in_thread: InThread = _plain_thread,
) -> tuple[MatchResult, CompletedRun]:
    """Parse ``report``, load the ledger's slice, match them, store the run's outcome.

    The run must have been begun (``store.begin_run``). DuckDB works in a scratch
    directory under ``workdir`` (spilling there past ``memory_limit``), removed after.

    Raises:
        ReportInvalid: the report cannot be read; nothing was stored.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="duckdb-") as scratch:
        con = open_duckdb(Path(scratch), memory_limit=memory_limit)
        try:
            create_ledger_table(con)
            # The report is parsed while the ledger's slice is read (the database's
            # side is one thread of SQLite or a COPY): each on its own DuckDB
            # connection to the same in-process database, as DuckDB requires across
            # threads. Both are awaited before anything else, even when one fails.
            ledger_con = con.cursor()
            try:
                parsed, loaded = await asyncio.gather(
                    in_thread(load_report, con, report, spec, fmt=_format_of(report)),
                    store.load_ledger(ledger_con, provider, day, workdir=Path(scratch)),
                    return_exceptions=True,
                )
            finally:
                ledger_con.close()
            for outcome in (parsed, loaded):
                if isinstance(outcome, BaseException):
                    raise outcome
            _beat(f"parsed {parsed} lines, ledger loaded")
            result = await in_thread(match, con, provider, day, policy)
        finally:
            con.close()
    saved = await store.complete_run(
        provider,
        day,
        totals=result.totals,
        findings=result.findings,
        resolved_carried=result.resolved_carried,
        report_sha256=report_sha256,
        report_path=str(report),
    )
    return result, saved


def _beat(details: str) -> None:
    """Heartbeat when running in an activity (the bench runs this outside one)."""
    if activity.in_activity():
        activity.heartbeat(details)


async def download(http: httpx.AsyncClient, path: str, part: Path) -> Path:
    """Stream ``path`` into ``part``, resuming from the bytes a last heartbeat recorded.

    Returns:
        ``part``, complete.

    Raises:
        ApplicationError: retryable when the provider is unreachable, answers 5xx or
            the body is cut short; final on a 4xx (the date has no report, credentials).
    """
    offset = _resume_offset(part)
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        async with http.stream("GET", path, headers=headers) as response:
            if response.status_code == 416 and offset:
                return part  # everything was already here
            fault = _reading(response.status_code)
            if fault is not None:
                raise to_application_error(fault) from None
            if response.status_code != 206:
                offset = 0  # the provider sent the whole file again
            expected = response.headers.get("content-length")
            written = offset
            with part.open("r+b" if offset else "wb") as out:
                out.seek(offset)
                out.truncate()
                async for chunk in response.aiter_bytes(CHUNK_BYTES):
                    out.write(chunk)
                    written += len(chunk)
                    activity.heartbeat(written)
            if expected is not None and written - offset != int(expected):
                raise to_application_error(
                    Transient(f"settlement report cut short at {written} bytes")
                )
    except httpx.TransportError as exc:
        raise to_application_error(
            Transient(f"settlement report download failed: {type(exc).__name__}")
        ) from None
    return part


def _reading(status: int) -> ProviderFault | None:
    """A report not published yet (404) is retried; another refusal (a bad date) is final."""
    if status == 404:
        return Transient("no settlement report for that date yet")
    if 400 <= status < 500 and status not in (401, 403, 408, 429):
        return Refused(ProviderRejected, f"the settlement report request was refused ({status})")
    return read_status(status, "settlement report", submitting=False)


def _resume_offset(part: Path) -> int:
    """Bytes of ``part`` a previous attempt's heartbeat vouched for (0: start over)."""
    details = activity.info().heartbeat_details
    if not details or not part.exists():
        return 0
    recorded = details[0]
    if not isinstance(recorded, int) or recorded <= 0:
        return 0
    return min(recorded, part.stat().st_size)


def _format_of(path: Path) -> Literal["csv", "json"]:
    """A person's ``.json`` file is JSON; everything else (downloads too) is CSV."""
    return "json" if path.suffix.lower() == ".json" else "csv"


def _spec(provider: str) -> ReportSpec:
    try:
        spec = report_spec(provider).settlement_report
    except ProviderNotSupported as exc:
        raise ProviderNotConfigured(str(exc)) from None
    assert spec is not None  # report_spec refuses providers without one
    return spec


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _final(exc: PaymentsError) -> ApplicationError:
    """A business failure as a final ApplicationError, logged in one line."""
    activity.logger.info("reconciliation refused: %s: %s", exc.type, exc)
    # BENIGN: an expected outcome, said once above, not again with a traceback.
    return ApplicationError(
        str(exc), type=exc.type, non_retryable=True, category=ApplicationErrorCategory.BENIGN
    )
