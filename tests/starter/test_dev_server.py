"""``payments dev``'s Temporal dev server: a leftover stopped if ours, an exit restarted.

A server a killed ``payments dev`` left is stopped at the next start, if it is ours; one
that exits while ``payments dev`` runs is started again, until it keeps exiting.

Stand-ins for the server are sleeping Python processes whose command line reads like
``temporal server start-dev --db-filename <data dir>/temporal.db``: what
:func:`stop_leftover` checks before it signals anything.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from payments_engine.runtime.settings import Settings
from payments_engine.starter.dev_server import (
    MAX_RESTARTS,
    PID_FILE,
    RESTART_WINDOW_SECONDS,
    DevServer,
    DevServerFailing,
    stop_leftover,
    temporal_db,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads command lines from /proc"
)

SLEEP = "import time; time.sleep(120)"

Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start sleeping processes with given extra arguments; kill the ones left at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-c", SLEEP, *args])
        started.append(process)
        # Popen returns once exec has begun; the kernel fills in the new command line a
        # moment later (an empty /proc/<pid>/cmdline meanwhile): wait for it.
        cmdline = Path(f"/proc/{process.pid}/cmdline")
        deadline = time.monotonic() + 10
        while not cmdline.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.005)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def dev_server_args(data_dir: Path) -> tuple[str, ...]:
    return ("server", "start-dev", "--db-filename", str(temporal_db(data_dir)))


def test_a_leftover_server_of_this_data_dir_is_stopped(spawn: Spawn, tmp_path: Path) -> None:
    server = spawn(*dev_server_args(tmp_path))
    (tmp_path / PID_FILE).write_text(f"{server.pid} {dead_pid()}\n")

    assert stop_leftover(tmp_path) == server.pid

    assert server.poll() is not None
    assert not (tmp_path / PID_FILE).exists()


def test_a_recycled_pid_is_never_signalled(spawn: Spawn, tmp_path: Path) -> None:
    stranger = spawn()
    (tmp_path / PID_FILE).write_text(f"{stranger.pid} {dead_pid()}\n")

    assert stop_leftover(tmp_path) is None

    assert stranger.poll() is None
    assert not (tmp_path / PID_FILE).exists()


def test_the_dev_server_of_another_data_dir_is_left_alone(spawn: Spawn, tmp_path: Path) -> None:
    other = spawn(*dev_server_args(tmp_path / "elsewhere"))
    (tmp_path / PID_FILE).write_text(f"{other.pid} {dead_pid()}\n")

    assert stop_leftover(tmp_path) is None

    assert other.poll() is None


def test_a_server_whose_payments_dev_still_runs_is_left_alone(spawn: Spawn, tmp_path: Path) -> None:
    server = spawn(*dev_server_args(tmp_path))
    owner = spawn("/usr/local/bin/payments", "dev")
    (tmp_path / PID_FILE).write_text(f"{server.pid} {owner.pid}\n")

    assert stop_leftover(tmp_path) is None

    assert server.poll() is None
    assert (tmp_path / PID_FILE).exists()


def test_an_owner_pid_now_used_by_another_program_does_not_protect_a_leftover(
    spawn: Spawn, tmp_path: Path
) -> None:
    server = spawn(*dev_server_args(tmp_path))
    stranger = spawn()
    (tmp_path / PID_FILE).write_text(f"{server.pid} {stranger.pid}\n")

    assert stop_leftover(tmp_path) == server.pid

    assert server.poll() is not None
    assert stranger.poll() is None


@pytest.mark.parametrize("content", ["", "garbage", "-5 1", "{dead}", "{dead} {dead}"])
def test_a_garbled_or_stale_pid_file_is_dropped(tmp_path: Path, content: str) -> None:
    pid_file = tmp_path / PID_FILE
    pid_file.write_text(content.format(dead=dead_pid()))

    assert stop_leftover(tmp_path) is None

    assert not pid_file.exists()


def test_no_pid_file_is_nothing_to_do(tmp_path: Path) -> None:
    assert stop_leftover(tmp_path) is None


def test_a_server_that_exits_is_started_again_until_it_keeps_exiting(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    started: list[subprocess.Popen[bytes]] = []

    def start(_: Settings) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
        process.wait()
        started.append(process)
        return process

    server = DevServer(settings, start=start)
    # Exits spread over more than the window never add up.
    for minute in range(MAX_RESTARTS * 2):
        assert server.restart_if_exited(now=minute * (RESTART_WINDOW_SECONDS + 1)) == 3
    assert len(started) == MAX_RESTARTS * 2 + 1

    crowded = DevServer(settings, start=start)
    for second in range(MAX_RESTARTS):
        assert crowded.restart_if_exited(now=float(second)) == 3
    with pytest.raises(DevServerFailing, match=f"exited {MAX_RESTARTS + 1} times in 60 s"):
        crowded.restart_if_exited(now=float(MAX_RESTARTS))


def test_a_running_server_is_left_running(spawn: Spawn, tmp_path: Path) -> None:
    running = spawn()
    server = DevServer(Settings(data_dir=tmp_path), start=lambda _: running)

    assert server.restart_if_exited(now=0.0) is None
    assert server.process is running
