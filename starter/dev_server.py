"""The Temporal dev server ``payments dev`` runs: started, stopped, and never left behind.

The server runs in a session of its own, so that Ctrl-C reaches ``payments dev`` first
and the server is stopped last, after the worker. The price is that a ``payments dev``
killed outright (``kill -9``, the OOM killer, a closed CI job) cannot stop it, and the
next start would find its ports taken. Two things prevent that:

* On Linux the server gets SIGTERM (a graceful stop) the moment its parent dies: it is
  started through a few lines of Python that ask the kernel for it (``PR_SET_PDEATHSIG``)
  and then ``exec`` the server.
* ``<data dir>/temporal.pid`` names the server and the ``payments dev`` that owns it.
  At start, a server whose owner no longer runs ``payments dev`` is stopped
  (:func:`stop_leftover`), and only if its command line shows it is the dev server of
  this very data dir: a recycled pid is never signalled, and a server another running
  ``payments dev`` owns is left alone.

While ``payments dev`` runs, a server that exits on its own (killed, crashed) is started
again on the same ports and database (:class:`DevServer`); the worker and the clients
reconnect by themselves. One that keeps exiting stops ``payments dev`` with an error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from payments_engine.domain.search_attributes import dev_server_flags
from payments_engine.runtime.codec_server import ui_codec_endpoint
from payments_engine.runtime.settings import Settings
from payments_engine.starter.stack import installed_binary

PID_FILE = "temporal.pid"
DB_FILE = "temporal.db"
STOP_SECONDS = 15.0
KILL_SECONDS = 5.0
# A server that exits this often within the window is failing, not being killed.
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60.0

# argv: the owner's pid, then the server's command. PR_SET_PDEATHSIG is 1; if the owner
# died before the request took effect, the parent is already someone else: stop there.
_EXEC_UNDER_OWNER = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(0)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def temporal_db(data_dir: Path) -> Path:
    """The dev server's database file in ``data_dir`` (absolute)."""
    return (data_dir / DB_FILE).resolve()


def start_temporal(settings: Settings) -> subprocess.Popen[bytes]:
    """Start ``temporal server start-dev`` persisting to the data dir; record its pid.

    Its Web UI decodes payloads through the codec server (``--ui-codec-endpoint``).
    """
    host, _, port = settings.temporal_address.rpartition(":")
    command = [
        installed_binary("temporal"),
        "server",
        "start-dev",
        "--ip",
        host if host not in ("", "localhost") else "127.0.0.1",
        "--port",
        port,
        "--ui-port",
        str(settings.temporal_ui_port),
        "--db-filename",
        str(temporal_db(settings.data_dir)),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "warn",
        "--ui-codec-endpoint",
        ui_codec_endpoint(settings),
        *dev_server_flags(),
    ]
    if sys.platform.startswith("linux"):
        command = [sys.executable, "-I", "-S", "-c", _EXEC_UNDER_OWNER, str(os.getpid()), *command]
    log_file = (settings.data_dir / "temporal.log").open("ab")
    # Its own process group: Ctrl-C reaches us first, and we stop it last.
    process = subprocess.Popen(
        command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    log_file.close()
    (settings.data_dir / PID_FILE).write_text(f"{process.pid} {os.getpid()}\n")
    return process


def stop_process(process: subprocess.Popen[bytes], data_dir: Path) -> None:
    """Stop the dev server gracefully, killing it if it hangs; forget its pid."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if _recorded(data_dir / PID_FILE)[0] == process.pid:
        (data_dir / PID_FILE).unlink(missing_ok=True)


class DevServerFailing(RuntimeError):
    """The dev server exited too often in a row to be started again."""


class DevServer:
    """The dev server process of one ``payments dev``, started again when it exits.

    Args:
        settings: the engine's settings (ports, data dir, codec endpoint).
        start: starts a server process (:func:`start_temporal`).
    """

    def __init__(
        self,
        settings: Settings,
        start: Callable[[Settings], subprocess.Popen[bytes]] = start_temporal,
    ) -> None:
        self._settings = settings
        self._start = start
        self._restarts: deque[float] = deque()
        self.process = start(settings)

    def restart_if_exited(self, now: float) -> int | None:
        """Start the server again if it has exited.

        Args:
            now: a monotonic clock reading (counts restarts in the window).

        Returns:
            The exit status of the server that was restarted; None if it is running.

        Raises:
            DevServerFailing: it exited :data:`MAX_RESTARTS` times within
                :data:`RESTART_WINDOW_SECONDS`.
        """
        status = self.process.poll()
        if status is None:
            return None
        while self._restarts and now - self._restarts[0] > RESTART_WINDOW_SECONDS:
            self._restarts.popleft()
        if len(self._restarts) >= MAX_RESTARTS:
            raise DevServerFailing(
                f"the Temporal dev server exited {len(self._restarts) + 1} times in"
                f" {RESTART_WINDOW_SECONDS:.0f} s (last status {status}); see"
                f" {self._settings.data_dir / 'temporal.log'}"
            )
        self._restarts.append(now)
        self.process = self._start(self._settings)
        return status

    def stop(self) -> None:
        """Stop the current server (see :func:`stop_process`)."""
        stop_process(self.process, self._settings.data_dir)


def stop_leftover(data_dir: Path) -> int | None:
    """Stop the dev server of ``data_dir`` that a ``payments dev`` no longer running left.

    Returns:
        The pid of the server stopped; None when there was none to stop (no record, the
        server gone, a pid now used by another program, or an owner still running).
    """
    pid_file = data_dir / PID_FILE
    server, owner = _recorded(pid_file)
    if server is None:
        pid_file.unlink(missing_ok=True)
        return None
    if owner is not None and owner != os.getpid() and _is_payments_dev(owner):
        return None  # another payments dev runs on this data dir: its server, its ports
    stopped = None
    if _is_dev_server_of(server, data_dir):
        _terminate(server)
        stopped = server
    pid_file.unlink(missing_ok=True)
    return stopped


def _recorded(pid_file: Path) -> tuple[int | None, int | None]:
    """``(server pid, owner pid)`` from the pid file; Nones when it is missing or garbled."""
    try:
        fields = pid_file.read_text().split()
        server = int(fields[0])
        owner = int(fields[1]) if len(fields) > 1 else None
    except (OSError, ValueError, IndexError):
        return None, None
    return (server, owner) if server > 0 else (None, None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and not ours to signal
    return True


def _command_line(pid: int) -> list[str]:
    """The process's arguments ([] if it is gone or cannot be read)."""
    with contextlib.suppress(OSError):
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    # No /proc (macOS): ps joins the arguments with spaces. A data dir whose path has a
    # space then never matches: nothing is stopped, and the port check names the holder.
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        )
        return done.stdout.split()
    return []


def _is_payments_dev(pid: int) -> bool:
    """Whether ``pid`` runs ``payments dev`` (not a process that got a recycled pid)."""
    args = _command_line(pid)
    return "dev" in args and any(arg.endswith("payments") for arg in args)


def _is_dev_server_of(pid: int, data_dir: Path) -> bool:
    """Whether ``pid`` runs ``start-dev`` on the database file of ``data_dir``."""
    args = _command_line(pid)
    if "start-dev" not in args or "--db-filename" not in args:
        return False
    at = args.index("--db-filename") + 1
    return at < len(args) and args[at] == str(temporal_db(data_dir))


def _terminate(pid: int) -> None:
    """SIGINT (the server's graceful stop), then SIGKILL if it hangs; wait until gone."""
    for sig, patience in ((signal.SIGINT, STOP_SECONDS), (signal.SIGKILL, KILL_SECONDS)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            if not _alive(pid) or _reaped_zombie(pid):
                return
            time.sleep(0.05)


def _reaped_zombie(pid: int) -> bool:
    """A child of this process that exited: reap it (else it stays 'alive' as a zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    return False
