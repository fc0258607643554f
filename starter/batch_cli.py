"""The batch commands of ``payments payout``: submit a file, watch it, steer it, results.

Kept apart from ``cli.py`` (which registers them) so the live progress display and the
result file have their own home. Ctrl-C while watching detaches: the batch goes on.
"""

from __future__ import annotations

import asyncio
import csv
import signal
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from payments_engine.domain.batch import (
    DEFAULT_BREAKER_THRESHOLD,
    DEFAULT_BREAKER_WINDOW,
    DEFAULT_CONCURRENCY,
    BatchBreaker,
    BatchProgress,
    BatchStatus,
)
from payments_engine.domain.errors import PaymentsError
from payments_engine.domain.floats import float_watch_schedule_id
from payments_engine.domain.money import Money
from payments_engine.domain.payout import DEFAULT_MERCHANT_ID, DEFAULT_PROVIDER
from payments_engine.runtime.settings import Settings
from payments_engine.starter.batches import BatchesClient, BatchFileInvalid, SubmittedBatch
from payments_engine.starter.client import open_client

WATCH_INTERVAL_SECONDS = 0.5
RESULT_COLUMNS = ("reference", "state", "provider_transaction_id", "failure_code")
ENDED = (BatchStatus.COMPLETED, BatchStatus.CANCELLED)

BatchIdArgument = Annotated[str, typer.Argument(help="The batch's id (printed at submit).")]
GroupOption = Annotated[
    str | None,
    typer.Option("--group", help="Only this group: country:<CC> or provider:<name>."),
]


def register(
    app: typer.Typer,
    settings: Callable[[typer.Context], Settings],
    run: Callable[[Coroutine[Any, Any, Any]], Any],
    console: Console,
    err_console: Console,
) -> None:
    """Add the batch commands to ``payments payout``."""

    @app.command("batch")
    def payout_batch(
        ctx: typer.Context,
        file: Annotated[
            Path,
            typer.Argument(
                exists=True,
                dir_okay=False,
                help="CSV: reference,amount,currency,msisdn,country,name,narration[,provider]",
            ),
        ],
        batch_ref: Annotated[
            str | None,
            typer.Option(
                "--batch-ref", help="Your id for the batch (default: from the file's content)."
            ),
        ] = None,
        merchant: Annotated[str, typer.Option("--merchant", help="Merchant id.")] = (
            DEFAULT_MERCHANT_ID
        ),
        provider: Annotated[
            str, typer.Option(help="Provider of the lines without one.")
        ] = DEFAULT_PROVIDER,
        skip_invalid: Annotated[
            bool, typer.Option("--skip-invalid", help="Start the valid lines; list the others.")
        ] = False,
        allow_partial: Annotated[
            bool,
            typer.Option(
                "--allow-partial",
                help="Start even if the balance or a float cannot cover the whole batch.",
            ),
        ] = False,
        concurrency: Annotated[
            int, typer.Option(min=1, max=1000, help="Payouts in flight at once.")
        ] = DEFAULT_CONCURRENCY,
        breaker_window: Annotated[
            int, typer.Option(min=1, help="The breaker looks at this many last payouts.")
        ] = DEFAULT_BREAKER_WINDOW,
        breaker_threshold: Annotated[
            float,
            typer.Option(min=0.01, max=1.0, help="...and pauses a group failing this share."),
        ] = DEFAULT_BREAKER_THRESHOLD,
        results: Annotated[
            Path | None,
            typer.Option(help="Where the per-line results go (default: <file>.results.csv)."),
        ] = None,
        detach: Annotated[
            bool, typer.Option("--detach", help="Start it and return at once.")
        ] = False,
    ) -> None:
        """Pay every line of a CSV file once, with live progress (Ctrl-C detaches)."""
        data = file.read_bytes()
        out = results or file.with_name(file.stem + ".results.csv")

        async def _batch() -> None:
            async with open_client(settings(ctx), with_ledger=True) as client:
                try:
                    submitted = await client.batches.submit(
                        data,
                        batch_reference=batch_ref,
                        merchant_id=merchant,
                        default_provider=provider,
                        skip_invalid=skip_invalid,
                        allow_partial=allow_partial,
                        concurrency=concurrency,
                        breaker=BatchBreaker(window=breaker_window, threshold=breaker_threshold),
                    )
                except BatchFileInvalid as exc:
                    for problem in exc.problems:
                        err_console.print(
                            f"line {problem.line_no}: {escape(problem.reason)}",
                            soft_wrap=True,
                            highlight=False,
                        )
                    err_console.print(
                        f"[red]{len(exc.problems)} invalid line(s):[/] nothing started"
                        " (--skip-invalid starts the valid lines)"
                    )
                    raise typer.Exit(2) from None
                _show_submitted(console, submitted)
                if detach:
                    _follow_hint(console, submitted.batch_id)
                    return
                progress = await _watch(client.batches, submitted.batch_id, console)
                if progress is None:
                    _follow_hint(console, submitted.batch_id)
                    return
                await _write_results(client.batches, submitted.batch_id, out)
                _show_final(console, progress)
                console.print(f"results: {escape(str(out))}", soft_wrap=True, highlight=False)

        run(_batch())

    @app.command("batch-status")
    def payout_batch_status(
        ctx: typer.Context,
        batch_id: BatchIdArgument,
        watch: Annotated[bool, typer.Option("--watch", help="Follow it live.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Show where a batch stands (counts, paused groups, runs)."""

        async def _status() -> None:
            async with open_client(settings(ctx)) as client:
                if watch:
                    progress = await _watch(client.batches, batch_id, console)
                    if progress is None:
                        return
                else:
                    progress = await client.batches.progress(batch_id)
            if as_json:
                console.print_json(progress.model_dump_json())
            else:
                _show_final(console, progress)

        run(_status())

    def _steer(
        ctx: typer.Context,
        action: Callable[[BatchesClient], Coroutine[Any, Any, BatchProgress]],
    ) -> None:
        async def _go() -> None:
            async with open_client(settings(ctx)) as client:
                progress = await action(client.batches)
            _show_final(console, progress)

        run(_go())

    @app.command("batch-pause")
    def payout_batch_pause(ctx: typer.Context, batch_id: BatchIdArgument) -> None:
        """Start no new payout of the batch until resumed (running ones go on)."""
        _steer(ctx, lambda batches: batches.pause(batch_id))

    @app.command("batch-resume")
    def payout_batch_resume(
        ctx: typer.Context, batch_id: BatchIdArgument, group: GroupOption = None
    ) -> None:
        """Resume a paused batch, or a group its breaker paused."""
        _steer(ctx, lambda batches: batches.resume(batch_id, group))

    @app.command("batch-cancel")
    def payout_batch_cancel(
        ctx: typer.Context, batch_id: BatchIdArgument, group: GroupOption = None
    ) -> None:
        """Cancel the batch, or one group: nothing new starts; started payouts finish."""
        _steer(ctx, lambda batches: batches.cancel(batch_id, group))

    @app.command("batch-results")
    def payout_batch_results(
        ctx: typer.Context,
        batch_id: BatchIdArgument,
        out: Annotated[Path, typer.Option("--out", help="The CSV file to write.")],
    ) -> None:
        """Write the per-line results: reference, state, provider transaction id, failure."""

        async def _results() -> None:
            async with open_client(settings(ctx), with_ledger=True) as client:
                count = await _write_results(client.batches, batch_id, out)
            console.print(
                f"{count} line(s) written to {escape(str(out))}", soft_wrap=True, highlight=False
            )

        run(_results())

    @app.command("float")
    def payout_float(
        ctx: typer.Context,
        provider: Annotated[str, typer.Option(help="The provider.")] = DEFAULT_PROVIDER,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Show a provider's float (its prefunded balance) per currency, read now."""

        async def _read() -> None:
            async with open_client(settings(ctx)) as client:
                result = await client.floats.read(provider)
            if as_json:
                console.print_json(result.model_dump_json())
                return
            for currency, amount in sorted(result.balances.items()):
                console.print(f"{provider} {Money(amount=amount, currency=currency)}")

        run(_read())

    @app.command("float-watch")
    def payout_float_watch(
        ctx: typer.Context,
        provider: Annotated[str, typer.Option(help="The provider.")] = DEFAULT_PROVIDER,
        threshold: Annotated[
            list[str] | None,
            typer.Option(
                "--threshold",
                help="CURRENCY=AMOUNT in major units, e.g. KES=500000.00 (repeatable).",
            ),
        ] = None,
        every_minutes: Annotated[
            int, typer.Option(min=1, max=24 * 60, help="Minutes between checks.")
        ] = 60,
        delete: Annotated[bool, typer.Option("--delete", help="Stop watching.")] = False,
    ) -> None:
        """Watch a provider's float on a schedule; alert when a currency falls below."""
        thresholds: dict[str, int] = {}
        for item in threshold or []:
            currency, _, amount = item.partition("=")
            try:
                thresholds[currency.strip().upper()] = Money.from_major(
                    amount.strip(), currency.strip()
                ).amount
            except (ValueError, PaymentsError) as exc:
                err_console.print(
                    f"[red]invalid input:[/] threshold {escape(item)!s}: {escape(str(exc))}"
                )
                raise typer.Exit(2) from None
        if not delete and not thresholds:
            err_console.print(
                "[red]invalid input:[/] give at least one --threshold CURRENCY=AMOUNT"
            )
            raise typer.Exit(2)

        async def _watch_float() -> None:
            async with open_client(settings(ctx)) as client:
                floats = client.floats
                if delete:
                    gone = await floats.unwatch(provider)
                    console.print(
                        f"{float_watch_schedule_id(provider)}: {'deleted' if gone else 'none'}"
                    )
                    return
                created = await floats.watch(provider, thresholds, timedelta(minutes=every_minutes))
            shown = ", ".join(
                str(Money(amount=amount, currency=currency))
                for currency, amount in sorted(thresholds.items())
            )
            console.print(
                f"{float_watch_schedule_id(provider)}: {'created' if created else 'updated'},"
                f" every {every_minutes} min, alerts below {shown}"
            )

        run(_watch_float())


def _show_submitted(console: Console, submitted: SubmittedBatch) -> None:
    totals = ", ".join(
        str(Money(amount=total.amount, currency=total.currency)) for total in submitted.totals
    )
    verb = "started" if submitted.created else "already submitted (the same batch: paid once)"
    console.print(
        f"batch {submitted.batch_id}: {submitted.lines} lines, {totals}; {verb}",
        soft_wrap=True,
        highlight=False,
    )
    if submitted.skipped:
        console.print(f"{len(submitted.skipped)} invalid line(s) skipped:")
        for problem in submitted.skipped:
            console.print(
                f"  line {problem.line_no}: {escape(problem.reason)}",
                soft_wrap=True,
                highlight=False,
            )
    for shortfall in submitted.shortfalls:
        console.print(f"[yellow]short:[/] {escape(shortfall)}", soft_wrap=True)


def _follow_hint(console: Console, batch_id: str) -> None:
    console.print(
        f"detached: the batch goes on. Follow it with `payments payout batch-status {batch_id}"
        " --watch`",
        soft_wrap=True,
        highlight=False,
    )


async def _watch(batches: BatchesClient, batch_id: str, console: Console) -> BatchProgress | None:
    """Show live progress until the batch ends; None if the user detached (Ctrl-C)."""
    detached = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, detached.set)
        handling = True
    except (RuntimeError, NotImplementedError):
        # Not the main thread (an embedding program): watch without a Ctrl-C handler.
        handling = False
    started = time.monotonic()
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn(
                "ok {task.fields[ok]} failed {task.fields[failed]} review {task.fields[review]}"
            ),
            TextColumn("{task.fields[rate]}/s"),
            TimeRemainingColumn(),
            console=console,
            transient=not console.is_terminal,
        ) as bar:
            task = bar.add_task(batch_id, total=None, ok=0, failed=0, review=0, rate="0.0")
            while True:
                progress = await batches.progress(batch_id)
                elapsed = max(time.monotonic() - started, 1e-6)
                bar.update(
                    task,
                    total=progress.lines,
                    completed=progress.done,
                    ok=progress.succeeded,
                    failed=progress.failed,
                    review=progress.needs_review,
                    rate=f"{progress.done / elapsed:.1f}",
                    description=f"{batch_id} {progress.status}",
                )
                if progress.status in ENDED:
                    return progress
                try:
                    await asyncio.wait_for(detached.wait(), WATCH_INTERVAL_SECONDS)
                except TimeoutError:
                    continue
                return None
    finally:
        if handling:
            loop.remove_signal_handler(signal.SIGINT)


async def _write_results(batches: BatchesClient, batch_id: str, out: Path) -> int:
    rows = batches.results(batch_id)
    # The first row is read before the file is opened: an unknown batch leaves no file.
    first = await anext(rows, None)
    count = 0
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(RESULT_COLUMNS)
        if first is not None:
            writer.writerow(_result_row(first))
            count = 1
        async for row in rows:
            writer.writerow(_result_row(row))
            count += 1
    return count


def _result_row(row: tuple[str, str, str | None, str | None]) -> tuple[str, str, str, str]:
    reference, state, transaction_id, failure = row
    return (reference, state, transaction_id or "", failure or "")


def _show_final(console: Console, progress: BatchProgress) -> None:
    console.print(
        f"batch {progress.batch_id} {progress.status}: {progress.done}/{progress.lines} done,"
        f" {progress.succeeded} succeeded, {progress.failed} failed,"
        f" {progress.needs_review} in review, {progress.cancelled} cancelled,"
        f" {progress.running} running; runs {progress.runs}",
        soft_wrap=True,
        highlight=False,
    )
    if progress.paid:
        paid = ", ".join(
            str(Money(amount=amount, currency=currency))
            for currency, amount in sorted(progress.paid.items())
        )
        console.print(f"  paid {paid}", soft_wrap=True, highlight=False)
    for group in progress.groups:
        if group.paused or group.cancelled:
            state = "paused" if group.paused else "cancelled"
            console.print(
                f"  {group.group} {state}: {group.failed_in_window} of its last"
                f" {group.ended} failed",
                soft_wrap=True,
                highlight=False,
            )
