"""The ``payments`` console script: a service stopped before it is up exits with status 0.

``payments dev``, ``worker``, ``relay`` and ``sandbox`` take SIGTERM as "stop": each
installs its own handler as soon as its event loop runs. Before that, while Python is
still importing the engine (a second or two), SIGTERM's default action would end the
process with status 143. Here, first thing, a SIGTERM means "do not start": status 0.
Nothing has been started by then that needs stopping (the Temporal dev server, started
later, gets a parent-death signal; see :mod:`starter.dev_server`).

Other commands keep SIGTERM's default: they are short, and a half-done command should
not report success.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

SERVICES = frozenset({"dev", "worker", "relay", "sandbox"})
# Commands under `payments sandbox` that are not the sandbox service.
SANDBOX_COMMANDS = frozenset({"purchase", "pay-voucher"})


def _not_started(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def is_service(argv: list[str]) -> bool:
    """Whether ``payments ARGV`` runs a service (``argv`` without the program name)."""
    if not argv or argv[0] not in SERVICES:
        return False
    return not (argv[0] == "sandbox" and len(argv) > 1 and argv[1] in SANDBOX_COMMANDS)


def main() -> None:
    """Entry point of the ``payments`` console script."""
    if is_service(sys.argv[1:]):
        signal.signal(signal.SIGTERM, _not_started)
    # Imported only now: importing the CLI is what takes the time.
    from payments_engine.starter.cli import main as cli_main

    cli_main()
