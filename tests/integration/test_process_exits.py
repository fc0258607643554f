"""Engine processes exit cleanly: status 0, and no "Fatal Python error" on the way out.

A process that exits while the Temporal SDK's Rust runtime still has threads running can
abort at interpreter shutdown with "PyGILState_Release ... must be current when
releasing" and status 134 (temporalio/sdk-python#300), after it did its work. The race
is narrow, so each entry point is started and stopped many times: ``payments worker``
and ``payments dev`` (SIGINT and SIGTERM, alternately) and ``payments`` commands run two
at a time against a Temporal dev server this module starts. Every process runs with its
own data directory and free loopback ports, never the default ones, and every process
started here is stopped here, including the Temporal server ``payments dev`` starts.

The crash needs a Tokio thread to enter Python at the wrong moment, so a few hundred
clean exits prove little on their own. Every process here therefore also runs an exit
probe (a ``sitecustomize`` on its PYTHONPATH) that reports, from ``atexit``, how many of
the runtime's Tokio threads are still alive as the interpreter finalizes: none, when the
runtime was shut down as it must be.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from payments_engine.domain.search_attributes import dev_server_flags
from payments_engine.starter.stack import installed_binary
from tests.integration.processes import (
    EXIT_SECONDS,
    STARTUP_SECONDS,
    Started,
    assert_clean_exit,
    engine_env,
    free_port,
    processes_mentioning,
    start,
    stop,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Enough rounds to catch an exit that fails one time in a few dozen, few enough to keep
# the whole suite within its 15 minutes on 2 cores (these rounds are its largest part).
WORKER_RESTARTS = 6
DEV_RESTARTS = 5
CLI_ROUNDS = 16


@pytest.fixture(scope="module")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Temporal dev server of this module, on free loopback ports, with the engine's
    search attributes; stopped when the module's tests are done."""
    workdir = tmp_path_factory.mktemp("temporal")
    port = free_port()
    command = [
        installed_binary("temporal"),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(free_port()),
        "--headless",
        "--log-level",
        "error",
        *dev_server_flags(),
    ]
    server = start(command, dict(os.environ), workdir / "temporal.log", workdir)
    address = f"127.0.0.1:{port}"
    try:
        _wait_for_frontend(address, server)
        yield address
    finally:
        stop(server.process)


def run_to_end(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run ``command`` to its end: its exit status and everything it printed."""
    done = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=EXIT_SECONDS
    )
    return done.returncode, done.stdout + done.stderr


def _wait_for_frontend(address: str, server: Started) -> None:
    """Wait until the frontend answers a health check (the Temporal CLI, not the SDK:
    a client in this process would put the SDK's runtime in the test process)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    health = [installed_binary("temporal"), "operator", "cluster", "health"]
    while True:
        if server.process.poll() is not None:
            pytest.fail(f"the Temporal dev server exited:\n{server.output()}")
        check = subprocess.run(
            [*health, "--address", address], capture_output=True, timeout=STARTUP_SECONDS
        )
        if check.returncode == 0:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"Temporal at {address} did not answer:\n{check.stderr.decode()}")
        time.sleep(0.2)


@pytest.mark.timeout(600)
def test_worker_process_exits_cleanly(
    temporal_address: str, exit_probe: Path, tmp_path: Path
) -> None:
    """``payments worker``, started and stopped 20 times, always exits with status 0."""
    env = engine_env(
        tmp_path, exit_probe, temporal_address=temporal_address, task_queue="exits-worker"
    )
    for round_ in range(WORKER_RESTARTS):
        sig = signal.SIGINT if round_ % 2 == 0 else signal.SIGTERM
        # `payments worker` here; test_exactly_once runs `payments worker`: both entries.
        worker = start(
            [installed_binary("payments"), "worker"],
            env,
            tmp_path / f"worker-{round_}.log",
            tmp_path,
        )
        try:
            worker.wait_for("worker polling task queue")
        finally:
            status = stop(worker.process, sig)
        what = f"worker, round {round_ + 1}, {signal.Signals(sig).name}"
        assert_clean_exit(status, worker.output(), what)
        assert "worker stopped" in worker.output(), worker.output()


@pytest.mark.timeout(300)
def test_a_worker_started_before_temporal_waits_for_it(exit_probe: Path, tmp_path: Path) -> None:
    """Started before its Temporal server (docker-compose starts everything at once), the
    worker waits, one line per attempt, and polls once the server is up."""
    address = f"127.0.0.1:{free_port()}"
    env = engine_env(tmp_path, exit_probe, temporal_address=address, task_queue="early-worker")
    worker = start([installed_binary("payments"), "worker"], env, tmp_path / "worker.log", tmp_path)
    server: Started | None = None
    try:
        worker.wait_for(f"waiting for Temporal at {address}")
        server = start(
            [installed_binary("temporal"), "server", "start-dev", "--ip", "127.0.0.1"]
            + ["--port", address.rsplit(":", 1)[1], "--ui-port", str(free_port())]
            + ["--headless", "--log-level", "error", *dev_server_flags()],
            dict(os.environ),
            tmp_path / "temporal.log",
            tmp_path,
        )
        worker.wait_for("worker polling task queue")
    finally:
        status = stop(worker.process, signal.SIGTERM)
        if server is not None:
            stop(server.process)
    assert_clean_exit(status, worker.output(), "worker started before Temporal")
    assert "Traceback" not in worker.output()


def test_a_worker_stopped_while_waiting_for_temporal_exits_cleanly(
    exit_probe: Path, tmp_path: Path
) -> None:
    """Ctrl-C while the worker waits for Temporal: status 0, one line, no traceback."""
    address = f"127.0.0.1:{free_port()}"
    env = engine_env(tmp_path, exit_probe, temporal_address=address, task_queue="never-up")
    worker = start([installed_binary("payments"), "worker"], env, tmp_path / "worker.log", tmp_path)
    try:
        worker.wait_for(f"waiting for Temporal at {address}")
    finally:
        status = stop(worker.process, signal.SIGINT)
    assert_clean_exit(status, worker.output(), "worker stopped while waiting")
    assert "worker stopped before Temporal answered" in worker.output()
    assert "Traceback" not in worker.output()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_sandbox_process_exits_cleanly(
    exit_probe: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    """``payments sandbox`` stops with status 0 (uvicorn.run re-raised SIGTERM: 143)."""
    port = free_port()
    env = engine_env(tmp_path, exit_probe, sandbox_port=port)
    sandbox = start(
        [installed_binary("payments"), "sandbox"], env, tmp_path / "sandbox.log", tmp_path
    )
    try:
        sandbox.wait_for(f"sandbox listening on http://127.0.0.1:{port}")
    finally:
        status = stop(sandbox.process, sig)
    assert_clean_exit(status, sandbox.output(), f"payments sandbox, {sig.name}")
    assert "sandbox stopped" in sandbox.output()
    assert "Traceback" not in sandbox.output()


def test_relay_and_sandbox_on_a_taken_port_fail_in_one_line(
    temporal_address: str, exit_probe: Path, tmp_path: Path
) -> None:
    """A taken port: status 1 and one line naming it, not uvicorn's exit 3 and a traceback."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = engine_env(
            tmp_path,
            exit_probe,
            temporal_address=temporal_address,
            relay_port=port,
            sandbox_port=port,
        )
        for command in ("relay", "sandbox"):
            status, output = run_to_end([installed_binary("payments"), command], env, tmp_path)
            assert status == 1, output
            assert f"the {command} cannot start: server on 127.0.0.1:{port}" in output
            assert "address already in use" in output
            assert "Traceback" not in output


@pytest.mark.timeout(900)
def test_payments_dev_exits_cleanly(exit_probe: Path, tmp_path: Path) -> None:
    """``payments dev``, started and stopped 20 times, always exits with status 0 and
    stops the Temporal server it started."""
    data_dir = tmp_path / "data"
    payments = installed_binary("payments")
    # Its Temporal server's command line names this file: how a server that `payments
    # dev` failed to stop is found, and stopped, by this test.
    temporal_db = str((data_dir / "temporal.db").resolve())
    try:
        for round_ in range(DEV_RESTARTS):
            sig = signal.SIGINT if round_ % 2 == 0 else signal.SIGTERM
            env = engine_env(
                data_dir,
                exit_probe,
                temporal_address=f"127.0.0.1:{free_port()}",
                task_queue="exits-dev",
            )
            dev = start([payments, "dev"], env, tmp_path / f"dev-{round_}.log", tmp_path)
            try:
                dev.wait_for("payments engine is running")
            finally:
                status = stop(dev.process, sig)
            what = f"payments dev, round {round_ + 1}, {signal.Signals(sig).name}"
            assert_clean_exit(status, dev.output(), what)
            assert "stopped." in dev.output(), dev.output()
            assert processes_mentioning(temporal_db) == [], f"{what}: Temporal still running"
    finally:
        for pid in processes_mentioning(temporal_db):
            os.kill(pid, signal.SIGKILL)


RUNTIME_THREADS_SCRIPT = """
import sys
from pathlib import Path

from payments_engine.runtime.temporal import connect, run
from payments_engine.runtime.settings import Settings


def tokio_threads():
    tasks = Path("/proc/self/task").iterdir()
    return sum((task / "comm").read_text().startswith("tokio") for task in tasks)


async def main(fail):
    client = await connect(Settings())
    await client.count_workflows()
    print("while running:", tokio_threads())
    if fail:
        # The client stays in this frame, which the exception's traceback holds.
        raise RuntimeError("the command failed")


try:
    run(main(sys.argv[1] == "fail"))
except RuntimeError:
    pass
print("after run:", tokio_threads())
"""


@pytest.mark.parametrize("outcome", ["succeed", "fail"])
def test_run_stops_the_runtime_threads(
    temporal_address: str, exit_probe: Path, tmp_path: Path, outcome: str
) -> None:
    """After :func:`runtime.temporal.run` returns or raises, no Tokio thread is left.

    The deterministic face of the races above: the runtime was dropped and its threads
    joined before the interpreter could start finalizing.
    """
    env = engine_env(tmp_path, exit_probe, temporal_address=temporal_address)
    status, output = run_to_end(
        [sys.executable, "-c", RUNTIME_THREADS_SCRIPT, outcome], env, tmp_path
    )
    assert_clean_exit(status, output, f"a command that {outcome}s")
    assert "after run: 0" in output, output
    assert "while running: 0" not in output, output


@pytest.mark.timeout(900)
def test_cli_commands_exit_cleanly(temporal_address: str, exit_probe: Path, tmp_path: Path) -> None:
    """``payments`` commands that talk to Temporal, two at a time, 100 times: status 0."""
    env = engine_env(tmp_path, exit_probe, temporal_address=temporal_address)
    payments = installed_binary("payments")
    commands = [
        [payments, "payout", "list", "--json"],
        [payments, "payout", "list", "--status", "needs_review", "--json"],
    ]
    for round_ in range(CLI_ROUNDS):
        running = [
            start(command, env, tmp_path / f"cli-{round_}-{n}.log", tmp_path)
            for n, command in enumerate(commands)
        ]
        deadline = time.monotonic() + EXIT_SECONDS
        statuses = []
        try:
            for cli in running:
                statuses.append(cli.process.wait(timeout=max(deadline - time.monotonic(), 0.1)))
        finally:
            for cli in running:
                stop(cli.process, signal.SIGKILL)
        for command, cli, status in zip(commands, running, statuses, strict=True):
            assert_clean_exit(status, cli.output(), f"{' '.join(command[1:])}, round {round_ + 1}")
