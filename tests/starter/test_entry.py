"""The console script: SIGTERM before a service is up exits 0; other commands keep it."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from payments_engine.starter.entry import is_service

# A stand-in for the CLI that is slow to import: it is "importing" when SIGTERM arrives.
SCRIPT = """
import os, signal, sys, time, types
cli = types.ModuleType("payments_engine.starter.cli")
def main():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)
    sys.exit(7)
cli.main = main
sys.modules["payments_engine.starter.cli"] = cli
sys.argv = ["payments", *sys.argv[1:]]
from payments_engine.starter.entry import main as entry_main
entry_main()
"""


@pytest.mark.parametrize(
    ("argv", "service"),
    [
        (["dev"], True),
        (["worker"], True),
        (["relay"], True),
        (["sandbox", "--port", "9400"], True),
        (["sandbox"], True),
        (["sandbox", "purchase", "cd-1"], False),
        (["sandbox", "pay-voucher", "123"], False),
        (["payout", "list"], False),
        ([], False),
        (["--help"], False),
    ],
)
def test_which_commands_are_services(argv: list[str], service: bool) -> None:
    assert is_service(argv) is service


@pytest.mark.parametrize(
    ("argv", "status"),
    [(["dev"], 0), (["worker"], 0), (["payout", "list"], -signal.SIGTERM)],
    ids=["dev", "worker", "payout-list"],
)
def test_sigterm_while_starting(argv: list[str], status: int) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, *argv], capture_output=True, timeout=60)
    assert done.returncode == status, done.stderr.decode()
    assert b"Traceback" not in done.stderr
