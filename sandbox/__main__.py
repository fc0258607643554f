"""Run the sandbox alone: ``payments sandbox [--host H] [--port P] [--webhook-url U]``.

Defaults come from the ``PAYMENTS_*`` settings; the API key and webhook secret must be
set (``PAYMENTS_HUB_API_KEY``, ``PAYMENTS_HUB_WEBHOOK_SECRET``), the same values the
worker and the relay use. ``payments dev`` runs the sandbox itself; this is for running
it on its own, as docker-compose does. It keeps its state in memory unless given a state
file (``--state-file`` or ``PAYMENTS_SANDBOX_STATE_FILE``).

MTN MoMo is served too (under ``/momo``) when ``PAYMENTS_MOMO_API_KEY`` and
``PAYMENTS_MOMO_WEBHOOK_SECRET`` (a ``whsec_`` secret) are both set; its callbacks go to
``--momo-webhook-url`` (default the relay's ``/webhooks/momo``) and it keeps its state
beside the hub's (``sandbox.db`` -> ``sandbox-momo.db``), as ``payments dev`` does.

The card issuer is served too (under ``/issuer``) when ``PAYMENTS_ISSUER_API_KEY`` and
``PAYMENTS_ISSUER_WEBHOOK_SECRET`` (a ``whsec_`` secret) are both set; its card events go
to ``--issuer-webhook-url`` (default the relay's ``/webhooks/issuer``), its network asks
``--issuer-authorization-url`` (default the relay's ``/authorizations/issuer``) to
authorize purchases within ``--authorization-deadline-seconds``.

The bank-transfer simulator is served too (under ``/bank``) when ``PAYMENTS_BANK_API_KEY``
and ``PAYMENTS_BANK_WEBHOOK_SECRET`` (a ``whsec_`` secret) are both set; its webhooks go
to ``--bank-webhook-url`` (default the relay's ``/webhooks/bank``) and its transfers
settle ``--bank-settlement-delay-seconds`` after acceptance (a day by default). The
merchant-hooks recorder is always served (under ``/merchant``), without authentication.

The cash networks are served too when their credentials are set: Efecty (under
``/efecty``) with ``PAYMENTS_EFECTY_API_KEY`` and ``PAYMENTS_EFECTY_WEBHOOK_SECRET``, OXXO
(under ``/oxxo``) with ``PAYMENTS_OXXO_API_KEY`` and ``PAYMENTS_OXXO_WEBHOOK_SECRET`` (a
``whsec_`` secret); their notifications go to ``--efecty-webhook-url`` and
``--oxxo-webhook-url`` (default the relay's ``/webhooks/efecty`` and ``/webhooks/oxxo``).

``payments sandbox purchase CARD --amount 15.00 --currency KES --mcc 5411 --country KE``
runs a card purchase through a running sandbox's network instead (``purchase --help``);
``payments sandbox pay-voucher REFERENCE`` pays a cash voucher at a simulated shop
(``pay-voucher --help``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from pydantic import ValidationError

from payments_engine.runtime.serving import start_server
from payments_engine.runtime.settings import Settings, SettingsError, load_settings
from payments_engine.sandbox.app import create_sandbox_app
from payments_engine.sandbox.bank.config import DAY_SECONDS, BankSandboxConfig
from payments_engine.sandbox.bank.wire import PROVIDER as BANK
from payments_engine.sandbox.cash import cli as pay_voucher_cli
from payments_engine.sandbox.cash.startup import cash_configs
from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.wire import PROVIDER as HUB
from payments_engine.sandbox.issuer import cli as purchase_cli
from payments_engine.sandbox.issuer.config import IssuerSandboxConfig
from payments_engine.sandbox.issuer.wire import PROVIDER as ISSUER
from payments_engine.sandbox.merchant.config import MerchantSandboxConfig
from payments_engine.sandbox.momo.config import MomoSandboxConfig
from payments_engine.sandbox.momo.wire import PROVIDER as MOMO

log = logging.getLogger("payments.sandbox")


def _credentials(settings: Settings, provider: str) -> tuple[str, str] | None:
    """(API key, webhook secret) of a provider when both are set and not blank.

    docker-compose passes an optional variable it was not given as an empty string.
    """
    api_key = settings.provider(provider).api_key
    secret = settings.webhook_secrets().get(provider)
    if api_key is None or not api_key.get_secret_value() or secret is None:
        return None
    return api_key.get_secret_value(), secret.get_secret_value()


def _issuer_credentials(settings: Settings) -> tuple[str, str] | None:
    """The card issuer's (API key, webhook secret) when both are set and not blank.

    Read from the settings' providers directly: until the engine registers the issuer,
    the settings hold none for it, and it is simply not configured.
    """
    provider = settings.providers.get(ISSUER)
    if provider is None:
        return None
    api_key, secret = provider.api_key, provider.webhook_secret
    if api_key is None or not api_key.get_secret_value():
        return None
    if secret is None or not secret.get_secret_value():
        return None
    return api_key.get_secret_value(), secret.get_secret_value()


def _bank_credentials(settings: Settings) -> tuple[str, str] | None:
    """The bank's (API key, webhook secret) when both are set and not blank."""
    provider = settings.providers.get(BANK)
    if provider is None or provider.api_key is None or provider.webhook_secret is None:
        return None
    api_key, secret = provider.api_key.get_secret_value(), provider.webhook_secret
    if not api_key or not secret.get_secret_value():
        return None
    return api_key, secret.get_secret_value()


def _url_or_none(value: str) -> str | None:
    return None if value.lower() == "none" else value


def main(argv: Sequence[str] | None = None, prog: str = "payments sandbox") -> None:
    """Parse the command line, build the app and serve it until interrupted.

    ``purchase ...`` runs a card purchase through a running sandbox instead
    (:mod:`.issuer.cli`) and exits with its status.

    Args:
        argv: the options; None reads ``sys.argv``.
        prog: the command's name in the help (``payments sandbox`` runs this too).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise SystemExit(f"invalid settings: {exc}") from None
    if arguments[:1] == ["purchase"]:
        raise SystemExit(purchase_cli.main(arguments[1:], settings.sandbox_url, prog=prog))
    if arguments[:1] == ["pay-voucher"]:
        raise SystemExit(pay_voucher_cli.main(arguments[1:], settings.sandbox_url, prog=prog))
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--host", default=settings.sandbox_host)
    parser.add_argument("--port", type=int, default=settings.sandbox_port)
    parser.add_argument(
        "--webhook-url",
        default=f"{settings.relay_url}/webhooks/{HUB}",
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
    parser.add_argument(
        "--momo-webhook-url",
        default=f"{settings.relay_url}/webhooks/{MOMO}",
        help="where MoMo callbacks go unless a transfer names its own; 'none' sends none",
    )
    parser.add_argument(
        "--issuer-webhook-url",
        default=f"{settings.relay_url}/webhooks/{ISSUER}",
        help="where the card issuer's card events go; 'none' sends none",
    )
    parser.add_argument(
        "--issuer-authorization-url",
        default=f"{settings.relay_url}/authorizations/{ISSUER}",
        help="where the card network asks to authorize purchases; 'none' declines them all",
    )
    parser.add_argument(
        "--authorization-deadline-seconds",
        type=float,
        # The relay's deadline for requests that state none, as ``payments dev`` does.
        default=settings.authorization_default_deadline_ms / 1000,
        help="how long the card network waits for an authorization's answer",
    )
    parser.add_argument(
        "--bank-webhook-url",
        default=f"{settings.relay_url}/webhooks/{BANK}",
        help="where the bank's transfer webhooks go; 'none' sends none",
    )
    parser.add_argument(
        "--bank-settlement-delay-seconds",
        type=float,
        default=DAY_SECONDS,
        help="how long after acceptance a bank transfer settles or is returned",
    )
    parser.add_argument(
        "--efecty-webhook-url",
        default=f"{settings.relay_url}/webhooks/efecty",
        help="where Efecty's notifications go unless a voucher names its own; 'none' sends none",
    )
    parser.add_argument(
        "--oxxo-webhook-url",
        default=f"{settings.relay_url}/webhooks/oxxo",
        help="where OXXO's notifications go; 'none' sends none",
    )
    args = parser.parse_args(arguments)
    hub = _credentials(settings, HUB)
    if hub is None:
        raise SystemExit("set PAYMENTS_HUB_API_KEY and PAYMENTS_HUB_WEBHOOK_SECRET first")
    config = SandboxConfig(
        api_key=hub[0],
        webhook_secret=hub[1],
        webhook_url=None if args.webhook_url.lower() == "none" else args.webhook_url,
        settle_seconds=args.settle_seconds,
        late_success_seconds=settings.sandbox_late_success_seconds,
        state_file=args.state_file,
    )
    # MoMo runs only when both PAYMENTS_MOMO_API_KEY and PAYMENTS_MOMO_WEBHOOK_SECRET are set.
    momo: MomoSandboxConfig | None = None
    momo_credentials = _credentials(settings, MOMO)
    if momo_credentials is not None:
        momo_url = args.momo_webhook_url
        try:
            momo = MomoSandboxConfig(
                api_key=momo_credentials[0],
                webhook_secret=momo_credentials[1],
                webhook_url=None if momo_url.lower() == "none" else momo_url,
                settle_seconds=args.settle_seconds,
                late_success_seconds=settings.sandbox_late_success_seconds,
                # One file for both simulators: each keeps to its own documents.
                state_file=args.state_file,
            )
        except ValidationError as exc:
            fields = ", ".join(str(error["loc"][0]) for error in exc.errors())
            raise SystemExit(f"invalid MoMo settings ({fields}): check PAYMENTS_MOMO_*") from None
    # The card issuer runs only when both PAYMENTS_ISSUER_API_KEY and _WEBHOOK_SECRET are set.
    issuer: IssuerSandboxConfig | None = None
    issuer_credentials = _issuer_credentials(settings)
    if issuer_credentials is not None:
        try:
            issuer = IssuerSandboxConfig(
                api_key=issuer_credentials[0],
                webhook_secret=issuer_credentials[1],
                webhook_url=_url_or_none(args.issuer_webhook_url),
                authorization_url=_url_or_none(args.issuer_authorization_url),
                authorization_deadline_seconds=args.authorization_deadline_seconds,
                # One file for every simulator: each keeps to its own documents.
                state_file=args.state_file,
            )
        except ValidationError as exc:
            fields = ", ".join(str(error["loc"][0]) for error in exc.errors())
            raise SystemExit(
                f"invalid card issuer settings ({fields}): check PAYMENTS_ISSUER_* and"
                " --authorization-deadline-seconds"
            ) from None
    # The bank runs only when both PAYMENTS_BANK_API_KEY and _WEBHOOK_SECRET are set.
    bank: BankSandboxConfig | None = None
    bank_credentials = _bank_credentials(settings)
    if bank_credentials is not None:
        try:
            bank = BankSandboxConfig(
                api_key=bank_credentials[0],
                webhook_secret=bank_credentials[1],
                webhook_url=_url_or_none(args.bank_webhook_url),
                settlement_delay_seconds=args.bank_settlement_delay_seconds,
                state_file=args.state_file,
            )
        except ValidationError as exc:
            fields = ", ".join(str(error["loc"][0]) for error in exc.errors())
            raise SystemExit(
                f"invalid bank settings ({fields}): check PAYMENTS_BANK_* and"
                " --bank-settlement-delay-seconds"
            ) from None
    # The merchant recorder always runs, without authentication.
    merchant = MerchantSandboxConfig(state_file=args.state_file)
    # Each cash network runs only when its PAYMENTS_<NAME>_API_KEY and _WEBHOOK_SECRET are set.
    efecty, oxxo = cash_configs(
        settings,
        efecty_webhook_url=_url_or_none(args.efecty_webhook_url),
        oxxo_webhook_url=_url_or_none(args.oxxo_webhook_url),
        state_file=args.state_file,
    )
    app = create_sandbox_app(
        config, momo=momo, issuer=issuer, bank=bank, merchant=merchant, efecty=efecty, oxxo=oxxo
    )
    serve(app, host=args.host, port=args.port)


def serve(app: FastAPI, *, host: str, port: int) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then finish in-flight requests; status 0.

    Not ``uvicorn.run``: after its own clean shutdown it raises the signal it caught
    again, so a SIGTERM ended the process with status 143.

    Raises:
        SystemExit: the server cannot listen (the port is taken).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_serve(app, host, port))


async def _serve(app: FastAPI, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        server = await start_server(app, host, port)
    except RuntimeError as exc:
        raise SystemExit(f"the sandbox cannot start: {exc}") from None
    log.info("sandbox listening on %s", server.url)
    try:
        await server.wait_for(stop)
    finally:
        await server.stop()
    log.info("sandbox stopped")


if __name__ == "__main__":
    main()
