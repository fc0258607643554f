"""Run the sandbox hub alone: ``payments sandbox [--host H] [--port P] [--webhook-url U]``.

Defaults come from the ``PAYMENTS_*`` settings; the API key and webhook secret must be
set (``PAYMENTS_HUB_API_KEY``, ``PAYMENTS_HUB_WEBHOOK_SECRET``), the same values the
worker and the relay use. ``payments dev`` runs the sandbox itself; this is for running
it on its own, as docker-compose does. It keeps its state in memory unless given a state
file (``--state-file`` or ``PAYMENTS_SANDBOX_STATE_FILE``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from payments_engine.domain.hub import PROVIDER_NAME
from payments_engine.runtime.settings import Settings
from payments_engine.sandbox.app import create_sandbox_app
from payments_engine.sandbox.config import SandboxConfig


def main(argv: list[str] | None = None, prog: str = "payments sandbox") -> None:
    """Parse the command line, build the app and serve it until interrupted.

    Args:
        argv: the options; None reads ``sys.argv``.
        prog: the command's name in the help (``payments sandbox`` runs this too).
    """
    settings = Settings()
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--host", default=settings.sandbox_host)
    parser.add_argument("--port", type=int, default=settings.sandbox_port)
    parser.add_argument(
        "--webhook-url",
        default=f"{settings.relay_url}/webhooks/{PROVIDER_NAME}",
        help="where webhooks are POSTed; 'none' sends none",
    )
    parser.add_argument("--settle-seconds", type=float, default=settings.sandbox_settle_seconds)
    parser.add_argument(
        "--state-file",
        type=Path,
        default=settings.sandbox_state_file,
        help="SQLite file keeping transfers, webhooks and floats across restarts;"
        " default in memory only",
    )
    args = parser.parse_args(argv)
    if settings.hub_api_key is None or settings.hub_webhook_secret is None:
        raise SystemExit("set PAYMENTS_HUB_API_KEY and PAYMENTS_HUB_WEBHOOK_SECRET first")
    config = SandboxConfig(
        api_key=settings.hub_api_key.get_secret_value(),
        webhook_secret=settings.hub_webhook_secret.get_secret_value(),
        webhook_url=None if args.webhook_url.lower() == "none" else args.webhook_url,
        settle_seconds=args.settle_seconds,
        late_success_seconds=settings.sandbox_late_success_seconds,
        state_file=args.state_file,
    )
    uvicorn.run(create_sandbox_app(config), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
