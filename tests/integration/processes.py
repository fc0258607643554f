"""Engine processes for the tests: started with their own data dir and free ports, stopped,
and checked for a clean exit (status 0, no "Fatal Python error", no Tokio thread alive).

Every process runs an exit probe (a ``sitecustomize`` on its PYTHONPATH, see
:data:`EXIT_PROBE` and the ``exit_probe`` fixture) that reports, from ``atexit``, how many
of the Temporal runtime's Tokio threads are still alive as the interpreter finalizes.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

FATAL = "Fatal Python error"
# What runtime.temporal.run logs when a client outlives the process's coroutine, so that
# the Temporal runtime's threads could not be stopped before the interpreter exits.
LEAK = "Temporal runtime is still in use"
PROBE_CLEAN = "exit probe: 0 Tokio thread(s) alive"
EXIT_PROBE = """
\"\"\"Test probe: report the Tokio threads still alive as the interpreter exits.\"\"\"
import atexit
import os


def _report_tokio_threads():
    alive = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                alive += comm.read().startswith("tokio")
        except OSError:
            pass
    os.write(2, f"exit probe: {alive} Tokio thread(s) alive\\n".encode())


atexit.register(_report_tokio_threads)
"""
STARTUP_SECONDS = 90.0
# payments dev waits up to 15 s for its Temporal server to stop, and the worker up to
# 10 s for activities; the processes here have nothing in flight, so this is generous.
EXIT_SECONDS = 60.0


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Below the kernel's ephemeral range: a port chosen here can be taken between the choice
# and the bind only by another deliberate choice, never by a process (the Temporal dev
# server's own services, any client) that lets the kernel pick one.
_PORT_RANGE = (max(1024, _ephemeral_low() - 12000), _ephemeral_low())
_rng = random.Random()


def free_port() -> int:
    """A loopback port nothing listens on right now, outside the ephemeral range."""
    for _ in range(200):
        port = _rng.randrange(*_PORT_RANGE)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {_PORT_RANGE}")


def engine_env(data_dir: Path, probe: Path, **settings: object) -> dict[str, str]:
    """This environment without any PAYMENTS_* variable, plus ``settings`` as PAYMENTS_*.

    Sandbox, relay, codec server and UI ports are always set to free ones, so nothing
    here ever binds the engine's default ports, even where a process does not use them.

    Args:
        data_dir: the processes' data directory.
        probe: the directory of the exit probe (see :func:`exit_probe`).
        settings: PAYMENTS_* settings, by field name.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PAYMENTS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(probe), env.get("PYTHONPATH")]))
    values: dict[str, object] = {
        "data_dir": data_dir,
        "relay_host": "127.0.0.1",
        "relay_port": free_port(),
        "sandbox_host": "127.0.0.1",
        "sandbox_port": free_port(),
        "temporal_ui_port": free_port(),
        "codec_port": free_port(),
        "hub_api_key": secrets.token_urlsafe(24),
        "hub_webhook_secret": secrets.token_urlsafe(32),
    }
    values.update(settings)
    env.update({f"PAYMENTS_{name.upper()}": str(value) for name, value in values.items()})
    return env


def processes_mentioning(marker: str) -> list[int]:
    """Pids of this machine's processes whose command line contains ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            pids.append(int(entry.name))
    return pids


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> int:
    """Signal ``process``, wait for it; kill it if it hangs. Returns its exit status."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode is not None
    return process.returncode


@dataclass
class Started:
    """A process started by :func:`start`, with the file its output goes to."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """Everything it wrote to stdout and stderr so far."""
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = STARTUP_SECONDS) -> None:
        """Wait until it prints ``text``; fail with its output if it exits or hangs first."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None:
                pytest.fail(
                    f"exited with {self.process.returncode} before printing {text!r}:\n"
                    + self.output()
                )
            if time.monotonic() > deadline:
                stop(self.process, signal.SIGKILL)
                pytest.fail(f"did not print {text!r} in {timeout:.0f} s:\n{self.output()}")
            time.sleep(0.05)


def start(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> Started:
    """Start ``command`` with its stdout and stderr going to ``log``.

    A file rather than a pipe: nobody has to keep reading it for the process to go on.
    """
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    return Started(process, log)


def assert_clean_exit(status: int, output: str, what: str) -> None:
    """Status 0, no fatal error, and the Temporal runtime gone before the interpreter ends.

    The runtime check is the exit probe's report (no Tokio thread alive as the
    interpreter began to finalize) and no :data:`LEAK` warning (the process let go of
    its clients). The output is in the failure message.

    Args:
        status: the exit status.
        output: what the process printed.
        what: names the process in failure messages.
    """
    assert FATAL not in output, f"{what}: {FATAL}:\n{output}"
    assert status == 0, f"{what}: exit status {status}:\n{output}"
    assert LEAK not in output, f"{what}: the runtime outlived the process's coroutine"
    assert PROBE_CLEAN in output, f"{what}: Tokio threads alive at exit:\n{output}"
