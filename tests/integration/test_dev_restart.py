"""``payments dev`` restarted with transfers in flight at the sandbox loses nothing.

The hub (sandbox) keeps its transfers, floats and pending webhooks in the data dir, so a
transfer it was still working on when ``payments dev`` stopped resolves after the restart,
and every payout ends as the hub decided: none in needs_review.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from payments_engine.sandbox.scenarios import Scenario
from payments_engine.starter.dev_server import PID_FILE, temporal_db
from payments_engine.starter.stack import installed_binary
from tests.integration.processes import (
    Started,
    assert_clean_exit,
    engine_env,
    free_port,
    processes_mentioning,
    start,
    stop,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Slow enough that every transfer is still pending at the hub when payments dev stops,
# even on a loaded machine where each of the four `payments payout create` takes seconds.
SETTLE_SECONDS = 15
PAYOUTS = {
    "restart-paid-1": (Scenario.SUCCESS, "succeeded"),
    "restart-paid-2": (Scenario.SUCCESS, "succeeded"),
    "restart-closed": (Scenario.WALLET_CLOSED, "failed"),
    "restart-no-hook": (Scenario.WEBHOOK_NEVER_SENT, "succeeded"),
}


def number(scenario: Scenario) -> str:
    """A Kenyan number that makes the sandbox run ``scenario``."""
    return f"+254700{scenario.suffix}" if scenario.suffix else "+254712345678"


def cli(env: dict[str, str], cwd: Path, *args: str) -> Any:
    """Run ``payments ARGS --json`` and return its parsed output; it must exit 0."""
    done = subprocess.run(
        [installed_binary("payments"), *args, "--json"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def hub_transfers(sandbox_url: str) -> dict[str, dict[str, Any]]:
    """The sandbox hub's own record, by our reference."""
    answer = httpx.get(f"{sandbox_url}/admin/transfers", timeout=10)
    answer.raise_for_status()
    return {t["thirdPartyTransId"]: t for t in answer.json()}


def wait(probe: Any, accept: Any, timeout: float = 90.0) -> Any:
    """Call ``probe()`` until ``accept`` holds for its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if accept(value):
            return value
        assert time.monotonic() < deadline, f"not reached in {timeout:.0f} s: {value!r}"
        time.sleep(0.3)


@pytest.mark.timeout(600)
def test_restart_with_transfers_in_flight_ends_every_payout_as_the_hub_decided(
    exit_probe: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    sandbox_port = free_port()
    env = engine_env(
        data_dir,
        exit_probe,
        temporal_address=f"127.0.0.1:{free_port()}",
        sandbox_port=sandbox_port,
        sandbox_settle_seconds=SETTLE_SECONDS,
        task_queue="restart",
    )
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    temporal_db = str((data_dir / "temporal.db").resolve())
    payments = installed_binary("payments")
    try:
        first = start([payments, "dev"], env, tmp_path / "dev-1.log", tmp_path)
        try:
            first.wait_for("payments engine is running")
            fund = ["--amount", "1000.00", "--currency", "KES", "--reference", "restart-fund"]
            cli(env, tmp_path, "ledger", "fund", *fund)
            for payout_id, (scenario, _) in PAYOUTS.items():
                money = ["--amount", "10.00", "--currency", "KES"]
                recipient = ["--phone", number(scenario), "--country", "KE"]
                cli(env, tmp_path, "payout", "create", "--id", payout_id, *money, *recipient)
            references = {f"payout-{p}" for p in PAYOUTS}
            before = wait(
                lambda: hub_transfers(sandbox_url), lambda r: references <= set(r), timeout=30
            )
            # Still pending at the hub: what it decides, it decides after the restart.
            assert all(before[ref]["status"] in ("MR108", "MR102") for ref in references)
        finally:
            status = stop(first.process, signal.SIGINT)
        assert_clean_exit(status, first.output(), "payments dev (first run)")

        second = start([payments, "dev"], env, tmp_path / "dev-2.log", tmp_path)
        try:
            second.wait_for("payments engine is running")
            views = {
                payout_id: wait(
                    lambda p=payout_id: cli(env, tmp_path, "payout", "status", p),
                    lambda v: v["status"] in ("succeeded", "failed", "needs_review"),
                )
                for payout_id in PAYOUTS
            }
            after = hub_transfers(sandbox_url)
        finally:
            status = stop(second.process, signal.SIGINT)
        assert_clean_exit(status, second.output(), "payments dev (second run)")
    finally:
        for pid in processes_mentioning(temporal_db):
            os.kill(pid, signal.SIGKILL)

    for payout_id, (_, expected) in PAYOUTS.items():
        view, record = views[payout_id], after[f"payout-{payout_id}"]
        assert view["status"] == expected, view
        # The hub's record, kept across the restart, says the same: one transfer each.
        assert record["submit_count"] == 1
        assert record["executed"] is (expected == "succeeded")
        assert record["transactionId"] == before[f"payout-{payout_id}"]["transactionId"]


def fund_and_pay(env: dict[str, str], cwd: Path, payout_id: str, *options: str) -> None:
    """Fund the default merchant with 100.00 KES, then pay 10.00 KES out as ``payout_id``."""
    fund = ["--amount", "100.00", "--currency", "KES", "--reference", f"{payout_id}-fund"]
    cli(env, cwd, "ledger", "fund", *fund)
    money = ["--amount", "10.00", "--currency", "KES"]
    recipient = ["--phone", number(Scenario.SUCCESS), "--country", "KE"]
    cli(env, cwd, "payout", "create", "--id", payout_id, *money, *recipient, *options)


def wait_gone(marker: str, timeout: float = 30.0) -> None:
    """Wait until no process mentions ``marker`` in its command line."""
    wait(lambda: processes_mentioning(marker), lambda pids: not pids, timeout=timeout)


@dataclass
class DevSetup:
    """Settings of a ``payments dev`` on a data dir of one test."""

    env: dict[str, str]
    data_dir: Path
    cwd: Path

    @property
    def temporal_db(self) -> str:
        """Its Temporal server's database: every server process names it."""
        return str(temporal_db(self.data_dir))

    def start_dev(self, log: str) -> Started:
        """Start ``payments dev`` and wait until it runs."""
        dev = start([installed_binary("payments"), "dev"], self.env, self.cwd / log, self.cwd)
        dev.wait_for("payments engine is running")
        return dev


@contextlib.contextmanager
def dev_setup(exit_probe: Path, tmp_path: Path, **settings: object) -> Iterator[DevSetup]:
    """A data dir and settings for ``payments dev``; its Temporal servers killed after."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    temporal_address = f"127.0.0.1:{free_port()}"
    setup = DevSetup(
        engine_env(data_dir, exit_probe, temporal_address=temporal_address, **settings),
        data_dir,
        tmp_path,
    )
    try:
        yield setup
    finally:
        for pid in processes_mentioning(setup.temporal_db):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(300)
def test_a_killed_payments_dev_leaves_no_server_and_starts_again(
    exit_probe: Path, tmp_path: Path
) -> None:
    with dev_setup(exit_probe, tmp_path, sandbox_settle_seconds=0.2, task_queue="killed") as dev:
        first = dev.start_dev("dev-1.log")
        try:
            fund_and_pay(dev.env, tmp_path, "before-kill", "--wait")
        finally:
            # Killed outright: it cannot stop its Temporal server itself.
            stop(first.process, signal.SIGKILL)
        # The kernel tells the server its parent died; it stops by itself.
        wait_gone(dev.temporal_db)

        second = dev.start_dev("dev-2.log")
        try:
            view = cli(dev.env, tmp_path, "payout", "status", "before-kill")
        finally:
            status = stop(second.process, signal.SIGINT)
        assert_clean_exit(status, second.output(), "payments dev (after a kill)")
        assert view["status"] == "succeeded"
        assert not (dev.data_dir / PID_FILE).exists()


@pytest.mark.timeout(300)
def test_payments_dev_stops_the_server_an_earlier_run_left_running(
    exit_probe: Path, tmp_path: Path
) -> None:
    with dev_setup(exit_probe, tmp_path, task_queue="leftover") as dev:
        # What an earlier payments dev leaves where the kernel cannot stop its server
        # (macOS): the server on its ports and database, its pid recorded, the owner gone.
        port = dev.env["PAYMENTS_TEMPORAL_ADDRESS"].rsplit(":", 1)[1]
        ui_port = dev.env["PAYMENTS_TEMPORAL_UI_PORT"]
        leftover = start(
            [installed_binary("temporal"), "server", "start-dev", "--ip", "127.0.0.1"]
            + ["--port", port, "--ui-port", ui_port, "--db-filename", dev.temporal_db]
            + ["--headless"],
            dev.env,
            tmp_path / "leftover.log",
            tmp_path,
        )
        try:
            owner = subprocess.Popen([sys.executable, "-c", "pass"])
            owner.wait()
            (dev.data_dir / PID_FILE).write_text(f"{leftover.process.pid} {owner.pid}\n")
            running = dev.start_dev("dev.log")
            try:
                assert leftover.process.poll() is not None
            finally:
                status = stop(running.process, signal.SIGINT)
        finally:
            stop(leftover.process, signal.SIGKILL)
        assert_clean_exit(status, running.output(), "payments dev (after a leftover)")
        assert (
            f"stopped the Temporal dev server (pid {leftover.process.pid}) that an earlier"
            in " ".join(running.output().split())
        )


@pytest.mark.timeout(300)
def test_a_temporal_server_killed_under_payments_dev_is_started_again(
    exit_probe: Path, tmp_path: Path
) -> None:
    with dev_setup(
        exit_probe, tmp_path, sandbox_settle_seconds=3, task_queue="server-killed"
    ) as dev:
        running = dev.start_dev("dev.log")
        try:
            fund_and_pay(dev.env, tmp_path, "across-a-crash")
            server = int((dev.data_dir / PID_FILE).read_text().split()[0])
            os.kill(server, signal.SIGKILL)
            running.wait_for("the Temporal dev server exited (status -9); started it again")
            # The payout in flight when the server died ends as the hub decided.
            view = wait(
                lambda: cli(dev.env, tmp_path, "payout", "status", "across-a-crash"),
                lambda v: v["status"] in ("succeeded", "failed", "needs_review"),
            )
        finally:
            status = stop(running.process, signal.SIGINT)
        assert_clean_exit(status, running.output(), "payments dev (server restarted)")
        assert view["status"] == "succeeded"
