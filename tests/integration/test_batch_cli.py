"""The batch commands of ``payments payout`` against the live engine.

``payments payout batch FILE`` (submit, watch, results), ``batch-status``,
``batch-pause``, ``batch-resume``, ``batch-cancel`` and ``batch-results``. Commands that
return at once run in this process through typer's CliRunner (in a thread: the worker
runs on this process's event loop); the ones that watch a batch run as real ``payments``
processes, as a user runs them, since watching installs a SIGINT handler (Ctrl-C
detaches), which only a process's main thread can do.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import re
import signal
import uuid
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from payments_engine.domain.batch import BatchStatus, batch_id_for
from payments_engine.domain.ledger import FundMerchantInput
from payments_engine.domain.money import Money
from payments_engine.starter.cli import app
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack, installed_binary
from tests.integration.processes import assert_clean_exit, engine_env
from tests.integration.test_batch_payouts import HEADER, KE_OK, batch_file, ended, funded

pytestmark = [pytest.mark.integration, pytest.mark.store_agnostic]

RESULTS_HEADER = ["reference", "state", "provider_transaction_id", "failure_code"]
PROCESS_SECONDS = 60.0


def _flat(text: str) -> str:
    """``text`` with every run of whitespace as one space (rich wraps at 80 columns)."""
    return " ".join(text.split())


def _kenyan(count: int) -> tuple[bytes, list[str]]:
    """A file of ``count`` lines of 10.00 KES to a number the sandbox pays, its references."""
    tag = uuid.uuid4().hex[:6]
    refs = [f"c{tag}-{n}" for n in range(count)]
    return batch_file([(ref, KE_OK, "KE") for ref in refs]), refs


def _batch_id(data: bytes) -> str:
    return batch_id_for(None, hashlib.sha256(data).hexdigest())


def _runner(stack: EngineStack) -> CliRunner:
    return CliRunner(
        env={
            "PAYMENTS_TEMPORAL_ADDRESS": stack.settings.temporal_address,
            "PAYMENTS_TASK_QUEUE": stack.settings.task_queue,
            "PAYMENTS_DATABASE_URL": stack.settings.resolved_database_url,
        }
    )


async def _cli(stack: EngineStack, *args: str | Path) -> Result:
    """``payments payout <args>`` in this process (in a thread: the worker needs the loop)."""
    command = ["payout", *map(str, args)]
    return await asyncio.to_thread(_runner(stack).invoke, app, command)


def _env(stack: EngineStack, exit_probe: Path, tmp_path: Path) -> dict[str, str]:
    """The environment of a ``payments`` process on the stack (codec keys included)."""
    settings = stack.settings
    assert settings.codec_keys is not None and settings.fingerprint_key is not None
    env = engine_env(
        tmp_path / "data",
        exit_probe,
        temporal_address=settings.temporal_address,
        task_queue=settings.task_queue,
        database_url=settings.resolved_database_url,
        codec_keys=settings.codec_keys.get_secret_value(),
        fingerprint_key=settings.fingerprint_key.get_secret_value(),
    )
    # Line by line into the pipe, so that "started" is seen while it watches.
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def _payments(
    env: dict[str, str], cwd: Path, *args: str | Path
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        installed_binary("payments"),
        "payout",
        *map(str, args),
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _finish(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    """Its exit status, stdout and stderr; killed if it does not end in time."""
    try:
        out, err = await asyncio.wait_for(process.communicate(), PROCESS_SECONDS)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        pytest.fail(f"payments did not exit:\n{out.decode()}\n{err.decode()}")
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def test_batch_pays_a_file_writes_its_results_and_the_same_file_pays_once(
    stack: EngineStack, payments: PaymentsClient, exit_probe: Path, tmp_path: Path
) -> None:
    merchant = await funded(stack)
    data, refs = _kenyan(6)
    file = tmp_path / "pay.csv"
    file.write_bytes(data)
    env = _env(stack, exit_probe, tmp_path)

    first = await _payments(env, tmp_path, "batch", file, "--merchant", merchant)
    status, out, err = await _finish(first)
    assert_clean_exit(status, out + err, "payments payout batch")
    batch_id = _batch_id(data)
    flat = _flat(out)
    assert f"batch {batch_id}: 6 lines, 60.00 KES; started" in flat, out
    last = flat[flat.rindex(f"batch {batch_id} ") :]
    assert last.startswith(f"batch {batch_id} completed: 6/6 done, 6 succeeded, 0 failed"), out
    results = tmp_path / "pay.results.csv"
    # Rich wraps piped output at 80 columns, the path included: compare without spaces.
    assert f"results:{results}" in "".join(out.split()), out
    with results.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == RESULTS_HEADER
    assert [row[0] for row in rows[1:]] == refs
    assert all(row[1] == "succeeded" and row[2] and not row[3] for row in rows[1:]), rows

    again = await _cli(stack, "batch", file, "--merchant", merchant, "--detach")
    assert again.exit_code == 0, again.output
    assert (
        f"batch {batch_id}: 6 lines, 60.00 KES; already submitted (the same batch: paid once)"
        in _flat(again.stdout)
    ), again.stdout
    final = await payments.batches.progress(batch_id)
    assert (final.status, final.succeeded, final.runs) == (BatchStatus.COMPLETED, 6, 1)


async def test_a_file_with_bad_lines_starts_nothing_unless_told_to_skip_them(
    stack: EngineStack, payments: PaymentsClient, tmp_path: Path
) -> None:
    merchant = await funded(stack)
    tag = uuid.uuid4().hex[:6]
    file = tmp_path / "bad.csv"
    file.write_text(
        HEADER
        + f"{tag}-ok,10.00,KES,+254712345678,KE,A,x\n"
        + f"{tag}-amount,10.005,KES,+254712345678,KE,A,x\n"
        + f"{tag}-country,10.00,KES,+256770000001,KE,A,x\n"
        + f"{tag}-ok2,10.00,KES,+254712345679,KE,A,x\n"
        + f"{tag}-ok,10.00,KES,+254712345678,KE,A,x\n"
    )
    refused = await _cli(stack, "batch", file, "--merchant", merchant)
    assert refused.exit_code == 2, refused.output
    reasons = re.findall(r"^line (\d+): (.+)$", refused.stderr, re.MULTILINE)
    assert [int(line) for line, _ in reasons] == [3, 4, 6], refused.stderr
    assert "KES has 2 decimal" in reasons[0][1]
    assert "nothing started (--skip-invalid starts the valid lines)" in _flat(refused.stderr)
    for number in ("712345678", "770000001", "+25"):
        assert number not in refused.output, refused.output
    assert await payments.batches._require_store().get(_batch_id(file.read_bytes())) is None  # noqa: SLF001

    skipped = await _cli(stack, "batch", file, "--merchant", merchant, "--skip-invalid", "--detach")
    assert skipped.exit_code == 0, skipped.output
    flat = _flat(skipped.stdout)
    batch_id = _batch_id(file.read_bytes())
    assert f"batch {batch_id}: 2 lines, 20.00 KES; started" in flat, skipped.stdout
    assert "3 invalid line(s) skipped:" in flat
    listed = re.findall(r"^ +line (\d+): ", skipped.stdout, re.MULTILINE)
    assert listed == ["3", "4", "6"], skipped.stdout
    for number in ("712345678", "770000001", "+25"):
        assert number not in skipped.output, skipped.output
    final = await ended(payments, batch_id)
    assert (final.status, final.succeeded, final.lines) == (BatchStatus.COMPLETED, 2, 2)


async def test_detach_then_status_and_results(
    stack: EngineStack, payments: PaymentsClient, tmp_path: Path
) -> None:
    merchant = await funded(stack)
    data, refs = _kenyan(4)
    file = tmp_path / "detach.csv"
    file.write_bytes(data)
    batch_id = _batch_id(data)

    detached = await _cli(stack, "batch", file, "--merchant", merchant, "--detach")
    assert detached.exit_code == 0, detached.output
    flat = _flat(detached.stdout)
    assert f"batch {batch_id}: 4 lines, 40.00 KES; started" in flat
    assert f"`payments payout batch-status {batch_id} --watch`" in flat, detached.stdout
    assert not (tmp_path / "detach.results.csv").exists()

    status = await _cli(stack, "batch-status", batch_id)
    assert status.exit_code == 0, status.output
    assert re.search(
        rf"batch {batch_id} \w+: \d/4 done, \d succeeded, 0 failed, 0 in review,"
        r" 0 cancelled, \d running; runs 1",
        _flat(status.stdout),
    ), status.stdout

    await ended(payments, batch_id)
    as_json = await _cli(stack, "batch-status", batch_id, "--json")
    assert as_json.exit_code == 0, as_json.output
    view = json.loads(as_json.stdout)
    assert (view["status"], view["succeeded"], view["lines"]) == ("completed", 4, 4)

    out = tmp_path / "out.csv"
    written = await _cli(stack, "batch-results", batch_id, "--out", out)
    assert written.exit_code == 0, written.output
    assert f"4 line(s) written to {out}" in _flat(written.stdout), written.stdout
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == RESULTS_HEADER
    assert [(row[0], row[1]) for row in rows[1:]] == [(ref, "succeeded") for ref in refs]
    assert all(row[2] for row in rows[1:])


async def test_pause_resume_and_cancel_a_running_batch(
    stack: EngineStack, payments: PaymentsClient, tmp_path: Path
) -> None:
    merchant = await funded(stack)
    data, _ = _kenyan(15)
    file = tmp_path / "steer.csv"
    file.write_bytes(data)
    batch_id = _batch_id(data)
    started = await _cli(
        stack, "batch", file, "--merchant", merchant, "--concurrency", "1", "--detach"
    )
    assert started.exit_code == 0, started.output

    paused = await _cli(stack, "batch-pause", batch_id)
    assert paused.exit_code == 0, paused.output
    assert _flat(paused.stdout).startswith(f"batch {batch_id} paused: "), paused.stdout

    resumed = await _cli(stack, "batch-resume", batch_id)
    assert resumed.exit_code == 0, resumed.output
    assert _flat(resumed.stdout).startswith(f"batch {batch_id} running: "), resumed.stdout

    cancelled = await _cli(stack, "batch-cancel", batch_id)
    assert cancelled.exit_code == 0, cancelled.output
    assert _flat(cancelled.stdout).startswith(f"batch {batch_id} cancelling: "), cancelled.stdout

    final = await ended(payments, batch_id)
    assert final.status is BatchStatus.CANCELLED
    assert final.succeeded + final.cancelled == 15 and final.cancelled > 0


async def test_a_refused_update_is_reported_clearly(
    stack: EngineStack, payments: PaymentsClient
) -> None:
    merchant = await funded(stack)
    data, _ = _kenyan(3)
    submitted = await payments.batches.submit(data, merchant_id=merchant, concurrency=1)
    batch_id = submitted.batch_id
    await payments.batches.pause(batch_id)
    try:
        refused = await _cli(stack, "batch-resume", batch_id, "--group", "country:XX")
        assert refused.exit_code == 2, (refused.output, refused.exception)
        assert "group 'country:XX' is not paused in this batch" in _flat(refused.stderr)
    finally:
        await payments.batches.cancel(batch_id)
        await ended(payments, batch_id)
    late = await _cli(stack, "batch-pause", batch_id)
    assert late.exit_code == 2, (late.output, late.exception)
    assert batch_id in _flat(late.stderr), late.stderr


async def test_an_unknown_batch_has_no_status(stack: EngineStack) -> None:
    status = await _cli(stack, "batch-status", "nosuchbatch")
    assert status.exit_code == 2, status.output
    assert "BatchNotFound: no batch 'nosuchbatch'" in _flat(status.stderr)


async def test_an_unknown_batch_is_reported_by_every_command(
    stack: EngineStack, tmp_path: Path
) -> None:
    out = tmp_path / "none.csv"
    results = await _cli(stack, "batch-results", "nosuchbatch", "--out", out)
    paused = await _cli(stack, "batch-pause", "nosuchbatch")
    for result in (results, paused):
        assert result.exit_code == 2, (result.output, result.exception)
        assert "BatchNotFound: no batch 'nosuchbatch'" in _flat(result.stderr)
    assert not out.exists()


async def test_ctrl_c_detaches_and_the_batch_goes_on(
    stack: EngineStack, payments: PaymentsClient, exit_probe: Path, tmp_path: Path
) -> None:
    merchant = await funded(stack)
    data, _ = _kenyan(8)
    file = tmp_path / "ctrl-c.csv"
    file.write_bytes(data)
    batch_id = _batch_id(data)
    env = _env(stack, exit_probe, tmp_path)
    process = await _payments(
        env, tmp_path, "batch", file, "--merchant", merchant, "--concurrency", "1"
    )
    assert process.stdout is not None
    first = await asyncio.wait_for(process.stdout.readline(), PROCESS_SECONDS)
    assert first.decode().startswith(f"batch {batch_id}: 8 lines"), first
    # The watch (and its Ctrl-C handler) begins right after that line is printed.
    await asyncio.sleep(0.3)
    process.send_signal(signal.SIGINT)
    status, out, err = await _finish(process)
    assert_clean_exit(status, out + err, "payments payout batch, Ctrl-C")
    assert f"`payments payout batch-status {batch_id} --watch`" in _flat(out), out
    assert not (tmp_path / "ctrl-c.results.csv").exists()
    assert f"batch {batch_id} completed" not in _flat(out), "it watched to the end"
    final = await ended(payments, batch_id)
    assert (final.status, final.succeeded) == (BatchStatus.COMPLETED, 8)


async def test_a_shortfall_is_refused_unless_partial_is_allowed(
    stack: EngineStack, payments: PaymentsClient, tmp_path: Path
) -> None:
    merchant = f"ms-{uuid.uuid4().hex[:8]}"
    await stack.ledger.fund_merchant(
        FundMerchantInput(
            merchant_id=merchant,
            amount=Money(amount=25_00, currency="KES"),
            reference=f"fund-{merchant}",
        )
    )
    data, _ = _kenyan(6)
    file = tmp_path / "short.csv"
    file.write_bytes(data)
    batch_id = _batch_id(data)

    refused = await _cli(stack, "batch", file, "--merchant", merchant)
    assert refused.exit_code == 2, refused.output
    assert (
        f"BatchShortfall: merchant {merchant} has 25.00 KES available;"
        " the batch draws 60.00 KES" in _flat(refused.stderr)
    ), refused.stderr
    assert await payments.batches._require_store().get(batch_id) is None  # noqa: SLF001

    partial = await _cli(
        stack, "batch", file, "--merchant", merchant, "--allow-partial", "--detach"
    )
    assert partial.exit_code == 0, partial.output
    flat = _flat(partial.stdout)
    assert f"batch {batch_id}: 6 lines, 60.00 KES; started" in flat, partial.stdout
    assert f"short: merchant {merchant} has 25.00 KES available" in flat, partial.stdout
    final = await ended(payments, batch_id)
    assert final.status is BatchStatus.COMPLETED and final.succeeded == 2, final
