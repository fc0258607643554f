"""Reconciliation of a big settlement report, end to end, against a bare DuckDB hash join.

Run from the repository root::

    python -m bench.reconcile [--lines 1000000] [--database sqlite|postgresql|both]
        [--faults 0.001] [--runs 3]

Setup (not timed), once per database: a migrated ledger database (a SQLite file, or a
throwaway PostgreSQL database dropped afterwards) holding N ``provider_transactions`` of
the provider ``hub`` settled on one date, plus 10% more on other dates and of another
provider (so the index has something to skip), bulk-inserted (stdlib ``sqlite3``
``executemany``; PostgreSQL ``COPY ... FROM STDIN``); and, once, the hub's CSV report of
that date (major units with two decimals, KES and UGX) with a fraction ``--faults`` of
lines differing: amount, fee, status, a line missing, a line unknown to the ledger, a
line repeated.

Each measurement runs in a fresh process, so its peak RSS (``VmHWM``) is its own:

* end to end: ``ReconciliationStore.begin_run``, the report's SHA-256 (as the activity
  takes it), then ``activities.reconciliation.reconcile_file``: DuckDB parse and checks
  of the file, the ledger's slice loaded from the database, the match, the findings
  stored in one transaction. The findings must equal the injected faults, by kind. The
  split (parse, ledger load, match, store) is timed around the very calls the pipeline
  makes (its ``in_thread`` hook and a store subclass), not by calling them again; the
  parse and the ledger load run at the same time, so they overlap in it;
* baseline: both sides already in DuckDB tables in memory (the report normalised to
  minor units, the ledger's slice), then ONE query, timed: a FULL OUTER JOIN on (kind,
  reference) classifying every pair (missing on either side, amount, fee, currency,
  status) and counting per class. Its counts must match the injected faults too (a
  repeated line is, for it, one more matched pair).

It prints the median of ``--runs`` runs per database and the ratios end to end /
baseline (target: at most 3x the time, and under 1 GiB peak).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent
PROVIDER = "hub"
OTHER_PROVIDER = "momo"
DAY = date(2026, 3, 14)
OTHER_SHARE = 0.10
FAILED_EVERY = 50  # one line in 50 is a failed transaction (no money moved)
DEFAULT_POSTGRES_URL = os.environ.get(
    "PAYMENTS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MEMORY_LIMIT = "512MB"  # the activity's default
TARGET_RATIO = 3.0
TARGET_PEAK_MIB = 1024.0

REPORT_HEADER = (
    "transactionId,thirdPartyTransId,transactionType,grossAmount,feeAmount,netAmount,"
    "currency,status,transactionTime,settlementDate\n"
)
LEDGER_COLUMNS = (
    "provider",
    "kind",
    "reference",
    "provider_transaction_id",
    "status",
    "gross",
    "fee",
    "currency",
    "occurred_at",
    "settlement_date",
    "entry_key",
    "updated_at",
)
FAULT_KINDS = (
    "amount_mismatch",
    "fee_mismatch",
    "status_mismatch",
    "missing_at_provider",
    "missing_in_ledger",
    "duplicate",
)
KINDS = ("payout", "collection", "refund")
_MIDNIGHT = clock()
SPLIT = ("begin", "hash", "parse", "ledger", "match", "store", "other")

# -- data ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Record:
    """One ledger record (amounts in minor units), from which its report line derives."""

    index: int
    kind: str
    reference: str
    txid: str
    status: str  # succeeded | failed
    gross: int
    fee: int
    currency: str
    occurred_at: datetime
    settlement_date: date


def record(index: int, day: date, provider_tag: str = "") -> Record:
    """The deterministic ``index``-th record of ``day``: KES and UGX, three kinds."""
    kind = KINDS[index % 3]
    currency = "UGX" if index % 4 == 1 else "KES"
    mixed = (index * 7919) % 100_000
    gross = (mixed + 100) * 100 if currency == "KES" else (mixed + 500) * 10
    failed = index % FAILED_EVERY == FAILED_EVERY - 1
    fee = 0 if failed or kind != "collection" else gross // 100
    # Spread over the day, all before 23:00 UTC: nothing falls in the timing window.
    seconds = (index * 7) % (23 * 3600)
    return Record(
        index=index,
        kind=kind,
        reference=f"{kind}-{provider_tag}{day:%Y%m%d}-{index:08d}",
        txid=f"HUB{provider_tag.upper()}{day:%Y%m%d}{index:09d}",
        status="failed" if failed else "succeeded",
        gross=gross,
        fee=fee,
        currency=currency,
        occurred_at=datetime.combine(day, _MIDNIGHT) + timedelta(seconds=seconds),
        settlement_date=day,
    )


def major(amount: int, currency: str) -> str:
    """Minor units as the hub writes them: two decimals, UGX (no minor unit) too."""
    if currency == "UGX":
        return f"{amount}.00"
    return f"{amount // 100}.{amount % 100:02d}"


@dataclass(slots=True)
class Line:
    """One report line, normalised (minor units, the engine's words)."""

    kind: str
    reference: str
    txid: str
    status: str
    gross: int
    fee: int
    currency: str
    occurred_at: datetime

    @property
    def net(self) -> int:
        """What moved: gross less fee, 0 when nothing did."""
        return self.gross - self.fee if self.status == "succeeded" else 0

    def csv(self, day: date) -> str:
        """The line as the hub writes it."""
        word = "success" if self.status == "succeeded" else "failed"
        when = self.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"{self.txid},{self.reference},{self.kind},{major(self.gross, self.currency)},"
            f"{major(self.fee, self.currency)},{major(self.net, self.currency)},"
            f"{self.currency},{word},{when},{day.isoformat()}\n"
        )


def line_of(rec: Record) -> Line:
    """The report line the hub writes for a record, when nothing differs."""
    return Line(
        rec.kind,
        rec.reference,
        rec.txid,
        rec.status,
        rec.gross,
        rec.fee,
        rec.currency,
        rec.occurred_at,
    )


@dataclass
class Dataset:
    """The ledger's records of the day, the report's lines and the faults injected."""

    records: list[Record]
    lines: list[Line]
    expected: dict[str, int] = field(default_factory=dict)


def build_dataset(count: int, fault_share: float) -> Dataset:
    """N records of ``DAY`` and the report of them, with ``fault_share`` of faults.

    Faults are spread evenly over succeeded records, the six kinds in turn.
    """
    records = [record(index, DAY) for index in range(count)]
    faults = min(count // 2, round(count * fault_share))
    at: dict[int, str] = {}
    if faults:
        step = count // faults
        for k in range(faults):
            index = k * step
            if records[index].status != "succeeded":
                index += 1
            at[index] = FAULT_KINDS[k % len(FAULT_KINDS)]
    lines: list[Line] = []
    unknown = 0
    for rec in records:
        fault = at.get(rec.index)
        line = line_of(rec)
        if fault is None:
            lines.append(line)
        elif fault == "amount_mismatch":
            lines.append(_replace(line, gross=line.gross + 100))
        elif fault == "fee_mismatch":
            lines.append(_replace(line, fee=line.fee + 100))
        elif fault == "status_mismatch":
            lines.append(_replace(line, status="failed", fee=0))
        elif fault == "missing_at_provider":
            pass  # booked, left out of the report
        elif fault == "missing_in_ledger":
            lines.append(line)
            unknown += 1
            lines.append(
                _replace(
                    line,
                    reference=f"{line.kind}-unknown-{unknown:08d}",
                    txid=f"HUBUNKNOWN{unknown:09d}",
                )
            )
        else:  # duplicate: the same line again, right after
            lines.extend((line, line))
    return Dataset(records, lines, dict(Counter(at.values())))


def _replace(line: Line, **changes: Any) -> Line:
    return dataclasses.replace(line, **changes)


def other_records(count: int) -> Iterator[tuple[str, Record]]:
    """``count`` records the slice must skip: the hub's days around, and another provider."""
    days = (DAY - timedelta(days=1), DAY + timedelta(days=1))
    for index in range(count):
        if index % 3 == 2:
            yield OTHER_PROVIDER, record(index, DAY, "o")
        else:
            yield PROVIDER, record(index, days[index % 3], "d")


def ledger_rows(dataset: Dataset) -> Iterator[tuple[Any, ...]]:
    """Every ``provider_transactions`` row as text and ints (LEDGER_COLUMNS order)."""
    updated = "2026-03-15 00:00:00.000000"
    extra = [(p, r) for p, r in other_records(int(len(dataset.records) * OTHER_SHARE))]
    for provider, rec in [(PROVIDER, r) for r in dataset.records] + extra:
        yield (
            provider,
            rec.kind,
            rec.reference,
            rec.txid,
            rec.status,
            rec.gross,
            rec.fee,
            rec.currency,
            rec.occurred_at.strftime("%Y-%m-%d %H:%M:%S.%f"),
            rec.settlement_date.isoformat(),
            f"entry-{rec.reference}",
            updated,
        )


def write_report(dataset: Dataset, path: Path) -> None:
    """The hub's CSV report of ``DAY``."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(REPORT_HEADER)
        chunk: list[str] = []
        for line in dataset.lines:
            chunk.append(line.csv(DAY))
            if len(chunk) >= 100_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))


def write_baseline_inputs(dataset: Dataset, folder: Path) -> tuple[Path, Path]:
    """Both sides, already normalised, as Parquet files the baseline loads untimed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    report = folder / "report.parquet"
    ledger = folder / "ledger.parquet"
    lines = dataset.lines
    pq.write_table(
        pa.table(
            {
                "line_no": pa.array(range(2, len(lines) + 2), pa.int64()),
                "provider_transaction_id": [x.txid for x in lines],
                "reference": [x.reference for x in lines],
                "kind": [x.kind for x in lines],
                "status": [x.status for x in lines],
                "gross": pa.array([x.gross for x in lines], pa.int64()),
                "fee": pa.array([x.fee for x in lines], pa.int64()),
                "net": pa.array([x.net for x in lines], pa.int64()),
                "currency": [x.currency for x in lines],
                "transaction_time": pa.array([x.occurred_at for x in lines], pa.timestamp("us")),
            }
        ),
        report,
    )
    recs = dataset.records
    pq.write_table(
        pa.table(
            {
                "provider_transaction_id": [r.txid for r in recs],
                "reference": [r.reference for r in recs],
                "kind": [r.kind for r in recs],
                "status": [r.status for r in recs],
                "gross": pa.array([r.gross for r in recs], pa.int64()),
                "fee": pa.array([r.fee for r in recs], pa.int64()),
                "currency": [r.currency for r in recs],
                "occurred_at": pa.array([r.occurred_at for r in recs], pa.timestamp("us")),
            }
        ),
        ledger,
    )
    return report, ledger


# -- databases -------------------------------------------------------------------------------


def _batches(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def fill_sqlite(path: Path, dataset: Dataset) -> None:
    """Insert the ledger rows with ``executemany``, 200,000 per transaction."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        sql = (
            f"INSERT INTO provider_transactions ({', '.join(LEDGER_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(LEDGER_COLUMNS))})"
        )
        for batch in _batches(ledger_rows(dataset), 200_000):
            with conn:
                conn.executemany(sql, batch)
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()


def _csv_cell(value: Any) -> str:
    return str(value)


def fill_postgres(dsn: str, dataset: Dataset) -> None:
    """COPY the ledger rows in (CSV), then ANALYZE, as autovacuum would have."""
    import psycopg

    columns = ", ".join(LEDGER_COLUMNS)
    with psycopg.connect(dsn) as conn:
        with conn.cursor() as cursor:
            with cursor.copy(
                f"COPY provider_transactions ({columns}) FROM STDIN (FORMAT csv)"
            ) as copy:
                for batch in _batches(ledger_rows(dataset), 100_000):
                    text = "".join(
                        ",".join(map(_csv_cell, row[:8]))
                        + f",{row[8]}+00,{row[9]},{row[10]},{row[11]}+00\n"
                        for row in batch
                    )
                    copy.write(text)
        conn.commit()
        conn.execute("ANALYZE provider_transactions")
        conn.commit()


def clear_runs(url: str) -> None:
    """Forget the reconciliation runs and findings, so every run stores the same."""
    statements = ("DELETE FROM reconciliation_findings", "DELETE FROM reconciliation_runs")
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1])
        try:
            with conn:
                for statement in statements:
                    conn.execute(statement)
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(_plain_dsn(url)) as pg:
        for statement in statements:
            pg.execute(statement)


def _plain_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_postgres_database(admin_url: str) -> tuple[str, str]:
    """A throwaway database beside ``admin_url``'s: its async URL and its name."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"bench_reconcile_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_plain_dsn(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name)
    return url.render_as_string(hide_password=False), name


def drop_postgres_database(admin_url: str, name: str) -> None:
    """Drop a database made by :func:`make_postgres_database`."""
    import psycopg

    with psycopg.connect(_plain_dsn(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(url: str) -> None:
    """Apply every migration to ``url``."""
    from payments_engine.db.migrate import upgrade

    asyncio.run(upgrade(url))


# -- the measured processes -----------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM), MiB."""
    try:
        for text in Path("/proc/self/status").read_text().splitlines():
            if text.startswith("VmHWM:"):
                return int(text.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """This process's resident set now (VmRSS), MiB."""
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith("VmRSS:"):
            return int(text.split()[1]) / 1024
    return 0.0


class _TimedThread:
    """The pipeline's ``in_thread`` hook: runs the step in a thread and times it."""

    def __init__(self, split: dict[str, float]) -> None:
        self.split = split

    async def __call__(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        finally:
            name = {"load_report": "parse", "match": "match"}.get(function.__name__, "other")
            self.split[name] = self.split.get(name, 0.0) + time.perf_counter() - started


async def _end_to_end(spec: dict[str, Any]) -> dict[str, Any]:
    from payments_engine.activities.providers.hub.settlements import SETTLEMENT_REPORT
    from payments_engine.activities.reconciliation import reconcile_file
    from payments_engine.db.reconciliation import ReconciliationStore
    from payments_engine.db.session import create_engine
    from payments_engine.domain.reconciliation import ReconciliationPolicy

    split: dict[str, float] = {}

    class TimedStore(ReconciliationStore):
        """The store, timing the two calls the pipeline makes of it."""

        async def load_ledger(self, *args: Any, **kwargs: Any) -> int:
            started = time.perf_counter()
            try:
                return await super().load_ledger(*args, **kwargs)
            finally:
                split["ledger"] = time.perf_counter() - started

        async def complete_run(self, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await super().complete_run(*args, **kwargs)
            finally:
                split["store"] = time.perf_counter() - started

    engine = create_engine(spec["url"])
    store = TimedStore(engine)
    report = Path(spec["report"])
    day = date.fromisoformat(spec["day"])
    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    rss_before = rss_mib()
    try:
        started = time.perf_counter()
        await store.begin_run(PROVIDER, day, workflow_id="bench-reconcile", source="file")
        split["begin"] = time.perf_counter() - started
        mark = time.perf_counter()
        digest = await asyncio.to_thread(_sha256, report)
        split["hash"] = time.perf_counter() - mark
        result, saved = await reconcile_file(
            store,
            report,
            SETTLEMENT_REPORT,
            PROVIDER,
            day,
            ReconciliationPolicy(),
            workdir=workdir,
            report_sha256=digest,
            memory_limit=MEMORY_LIMIT,
            in_thread=_TimedThread(split),
        )
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    # Parse and ledger run at the same time: the longer of the two is their wall time.
    overlapped = max(split.get("parse", 0.0), split.get("ledger", 0.0))
    serial = sum(v for k, v in split.items() if k not in ("parse", "ledger"))
    split["other"] = seconds - serial - overlapped
    return {
        "seconds": seconds,
        "peak_mib": peak_rss_mib(),
        "rss_before_mib": rss_before,
        "split": split,
        "lines": result.totals.report_lines,
        "ledger_records": result.totals.ledger_records,
        "matched": result.totals.matched,
        "findings": dict(Counter(str(f.kind.value) for f in result.findings)),
        "stored": saved.stored,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


BASELINE_QUERY = """
SELECT class, count(*) AS n FROM (
    SELECT CASE
        WHEN l.reference IS NULL THEN
            CASE WHEN r.status = 'succeeded' THEN 'missing_in_ledger' ELSE 'unmatched' END
        WHEN r.reference IS NULL THEN
            CASE WHEN l.status = 'succeeded' THEN 'missing_at_provider' ELSE 'unmatched' END
        WHEN r.status <> l.status THEN 'status_mismatch'
        WHEN r.currency <> l.currency THEN 'currency_mismatch'
        WHEN r.gross <> l.gross THEN 'amount_mismatch'
        WHEN r.fee <> l.fee THEN 'fee_mismatch'
        ELSE 'matched'
    END AS class
    FROM report AS r
    FULL OUTER JOIN ledger AS l ON l.kind = r.kind AND l.reference = r.reference
)
GROUP BY class
"""


def _baseline(spec: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        ":memory:",
        config={
            "memory_limit": MEMORY_LIMIT,
            "threads": 2,
            "temp_directory": str(workdir),
            "preserve_insertion_order": True,
        },
    )
    try:
        con.execute("CREATE TABLE report AS SELECT * FROM read_parquet(?)", [spec["report"]])
        con.execute("CREATE TABLE ledger AS SELECT * FROM read_parquet(?)", [spec["ledger"]])
        rss_before = rss_mib()
        started = time.perf_counter()
        counts = dict(con.execute(BASELINE_QUERY).fetchall())
        seconds = time.perf_counter() - started
        lines = con.execute("SELECT count(*) FROM report").fetchall()[0][0]
    finally:
        con.close()
    return {
        "seconds": seconds,
        "peak_mib": peak_rss_mib(),
        "rss_before_mib": rss_before,
        "lines": int(lines),
        "classes": {str(k): int(v) for k, v in counts.items()},
    }


def child(kind: str, spec_json: str) -> int:
    """Body of a measuring process: print one JSON line with its figures."""
    spec = json.loads(spec_json)
    out = asyncio.run(_end_to_end(spec)) if kind == "e2e" else _baseline(spec)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


def measure(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a fresh Python process; its JSON figures."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.reconcile", "--child", kind, json.dumps(spec)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} process failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the benchmark ---------------------------------------------------------------------------


@dataclass
class Figures:
    """The runs of one database."""

    database: str
    e2e: list[dict[str, Any]] = field(default_factory=list)
    baseline: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def median(self, side: str, key: str) -> float:
        """Median of ``key`` over the runs of ``side``."""
        runs = self.e2e if side == "e2e" else self.baseline
        return statistics.median(float(run[key]) for run in runs)

    def split(self, name: str) -> float:
        """Median seconds of one step of the end-to-end run."""
        return statistics.median(float(run["split"].get(name, 0.0)) for run in self.e2e)


def check(figures: Figures, dataset: Dataset) -> None:
    """Each run must find exactly the faults injected, by kind."""
    expected = {k: v for k, v in dataset.expected.items() if v}
    for number, run in enumerate(figures.e2e, 1):
        if run["findings"] != expected:
            figures.problems.append(
                f"{figures.database} end-to-end run {number}: findings {run['findings']} "
                f"!= injected {expected}"
            )
    wanted = {k: v for k, v in expected.items() if k != "duplicate"}
    for number, run in enumerate(figures.baseline, 1):
        got = {k: v for k, v in run["classes"].items() if k not in ("matched", "unmatched")}
        if got != wanted:
            figures.problems.append(
                f"{figures.database} baseline run {number}: classes {got} != injected {wanted}"
            )


def run_database(
    database: str, args: argparse.Namespace, dataset: Dataset, folder: Path, inputs: dict[str, str]
) -> Figures:
    """Set one database up, measure both sides ``--runs`` times, tear it down."""
    figures = Figures(database)
    name: str | None = None
    if database == "sqlite":
        path = folder / "ledger.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url, name = make_postgres_database(args.postgres_url)
    try:
        started = time.perf_counter()
        migrate(url)
        if database == "sqlite":
            fill_sqlite(folder / "ledger.db", dataset)
        else:
            fill_postgres(_plain_dsn(url), dataset)
        print(f"{database}: ledger set up in {time.perf_counter() - started:.1f}s", flush=True)
        for number in range(1, args.runs + 1):
            clear_runs(url)
            spec = {
                "url": url,
                "report": inputs["report"],
                "day": DAY.isoformat(),
                "workdir": str(folder / f"work-{database}-{number}"),
            }
            figures.e2e.append(measure("e2e", spec))
            figures.baseline.append(
                measure(
                    "baseline",
                    {
                        "report": inputs["report_parquet"],
                        "ledger": inputs["ledger_parquet"],
                        "workdir": str(folder / f"base-{database}-{number}"),
                    },
                )
            )
            e2e, base = figures.e2e[-1], figures.baseline[-1]
            print(
                f"{database} run {number}: end to end {e2e['seconds']:.2f}s "
                f"({e2e['peak_mib']:.0f} MiB), baseline {base['seconds']:.3f}s "
                f"({base['peak_mib']:.0f} MiB)",
                flush=True,
            )
    finally:
        if name is not None:
            drop_postgres_database(args.postgres_url, name)
    check(figures, dataset)
    return figures


def report(all_figures: list[Figures], dataset: Dataset, runs: int) -> None:
    """The table of medians, the split and the findings."""
    lines = len(dataset.lines)
    print()
    print(
        f"report lines {lines:,}, ledger records of the day {len(dataset.records):,} "
        f"(+{int(len(dataset.records) * OTHER_SHARE):,} on other days/providers); "
        f"median of {runs} run(s)"
    )
    print("injected faults: " + ", ".join(f"{k} {v}" for k, v in sorted(dataset.expected.items())))
    header = (
        f"{'database':<11}{'side':<12}{'seconds':>9}{'lines/s':>13}{'peak MiB':>10}"
        f"{'RSS start':>11}"
    )
    print()
    print(header)
    print("-" * len(header))
    for figures in all_figures:
        for side, label in (("e2e", "end to end"), ("baseline", "baseline")):
            seconds = figures.median(side, "seconds")
            print(
                f"{figures.database:<11}{label:<12}{seconds:>9.3f}{lines / seconds:>13,.0f}"
                f"{figures.median(side, 'peak_mib'):>10.0f}"
                f"{figures.median(side, 'rss_before_mib'):>11.0f}"
            )
        ratio = figures.median("e2e", "seconds") / figures.median("baseline", "seconds")
        peak = figures.median("e2e", "peak_mib")
        print(
            f"{figures.database:<11}{'ratio':<12}{ratio:>8.1f}x"
            f"   (target <= {TARGET_RATIO:.0f}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'};"
            f" peak {peak:.0f} MiB < {TARGET_PEAK_MIB:.0f}:"
            f" {'met' if peak < TARGET_PEAK_MIB else 'NOT met'})"
        )
    print()
    print(
        "end-to-end split, median seconds (share of the median total; parse and ledger"
        " run at the same time):"
    )
    print(f"{'database':<11}" + "".join(f"{name:>11}" for name in SPLIT))
    for figures in all_figures:
        total = figures.median("e2e", "seconds")
        cells = "".join(
            f"{figures.split(name):>6.2f}{100 * figures.split(name) / total:>4.0f}%"
            for name in SPLIT
        )
        print(f"{figures.database:<11}{cells}")
    print()
    for figures in all_figures:
        last = figures.e2e[-1]
        found = ", ".join(f"{k} {v}" for k, v in sorted(last["findings"].items()))
        print(
            f"{figures.database}: findings {found}; matched {last['matched']:,}, "
            f"stored {last['stored']}"
        )
        print(
            f"{figures.database}: baseline classes "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(figures.baseline[-1]["classes"].items()))
        )


def bench(args: argparse.Namespace) -> list[str]:
    """Set up, measure, print; the problems found (empty when every check passed)."""
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    started = time.perf_counter()
    dataset = build_dataset(args.lines, args.faults)
    problems: list[str] = []
    all_figures: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        folder = Path(tmp)
        report_path = folder / f"hub-{DAY.isoformat()}.csv"
        write_report(dataset, report_path)
        report_parquet, ledger_parquet = write_baseline_inputs(dataset, folder)
        inputs = {
            "report": str(report_path),
            "report_parquet": str(report_parquet),
            "ledger_parquet": str(ledger_parquet),
        }
        print(
            f"report of {len(dataset.lines):,} lines "
            f"({report_path.stat().st_size / 2**20:.0f} MiB) written in "
            f"{time.perf_counter() - started:.1f}s",
            flush=True,
        )
        for database in databases:
            if database == "postgresql":
                reason = _postgres_problem(args.postgres_url)
                if reason is not None:
                    problems.append(f"PostgreSQL not reachable, not measured: {reason}")
                    continue
            figures = run_database(database, args, dataset, folder, inputs)
            problems.extend(figures.problems)
            all_figures.append(figures)
    if all_figures:
        report(all_figures, dataset, args.runs)
    print(f"\ntotal wall time {time.perf_counter() - started:.0f}s")
    return problems


def _postgres_problem(admin_url: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(_plain_dsn(admin_url), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="Reconciliation of an N-line settlement report, end to end, against "
        "a single DuckDB hash join of the same inputs already in memory."
    )
    parser.add_argument("--lines", type=int, default=1_000_000, help="report lines (1000000)")
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql", "both"), default="both", help="(both)"
    )
    parser.add_argument(
        "--faults", type=float, default=0.001, help="share of lines that differ (0.001)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per side; the median (3)")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="a PostgreSQL URL to create the throwaway database from "
        "(PAYMENTS_BENCH_POSTGRES_URL, else postgres@127.0.0.1:5432)",
    )
    parser.add_argument("--child", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is None and (args.lines < 100 or args.runs < 1):
        parser.error("--lines must be at least 100 and --runs at least 1")
    if not 0 <= args.faults <= 0.5:
        parser.error("--faults must be between 0 and 0.5")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; the exit status (1 when a check failed)."""
    args = parse_args(argv)
    if args.child is not None:
        return child(*args.child)
    problems = bench(args)
    if problems:
        print(f"benchmark INVALID ({len(problems)} problems):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    raise SystemExit(main())
