"""Run the webhook relay alone: ``payments relay``.

Everything comes from the ``PAYMENTS_*`` settings: it listens on ``PAYMENTS_RELAY_HOST``
and ``PAYMENTS_RELAY_PORT``, verifies the hub's webhooks with
``PAYMENTS_HUB_WEBHOOK_SECRET`` (required), stores them in ``PAYMENTS_DATABASE_URL`` and
signals their workflows on the Temporal server at ``PAYMENTS_TEMPORAL_ADDRESS``.
``payments dev`` runs the relay itself; this is for running it on its own, as
docker-compose does. The ledger database must already be migrated (``payments migrate``).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from payments_engine.db.session import create_engine, session_factory
from payments_engine.relay.app import create_relay_app
from payments_engine.relay.authorizations import TemporalAuthorizer
from payments_engine.relay.config import RelayConfig
from payments_engine.relay.delivery import TemporalDeliverer
from payments_engine.runtime.serving import start_server
from payments_engine.runtime.settings import Settings, SettingsError, load_settings
from payments_engine.runtime.temporal import connect_with_retry, run

logger = logging.getLogger("payments.relay")


async def serve(settings: Settings) -> None:
    """Serve the relay until SIGINT or SIGTERM, then finish in-flight requests and exit.

    Args:
        settings: must carry at least one provider's webhook secret.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    client = await connect_with_retry(settings, stop, logger)
    if client is None:
        logger.info("relay stopped before Temporal answered")
        return
    engine = create_engine(settings.resolved_database_url)
    try:
        app = create_relay_app(
            RelayConfig.from_settings(settings),
            session_factory(engine),
            TemporalDeliverer(client),
            authorizer=TemporalAuthorizer(client),
        )
        try:
            server = await start_server(app, settings.relay_host, settings.relay_port)
        except RuntimeError as exc:
            raise SystemExit(f"the relay cannot start: {exc}") from None
        logger.info(
            "relay listening on %s/webhooks/{%s} (Temporal %s, namespace %s)",
            server.url,
            ",".join(sorted(settings.webhook_secrets())),
            settings.temporal_address,
            settings.temporal_namespace,
        )
        try:
            await server.wait_for(stop)
        finally:
            logger.info("relay stopping")
            await server.stop()
    finally:
        await engine.dispose()
    logger.info("relay stopped")


def main() -> None:
    """Entry point of ``payments relay``.

    Raises:
        SystemExit: no provider's webhook secret is set, Temporal never answered, or the
            relay cannot listen (its port is taken).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise SystemExit(f"invalid settings: {exc}") from None
    if not settings.webhook_secrets():
        names = " or ".join(
            f"PAYMENTS_{name.upper()}_WEBHOOK_SECRET" for name in settings.providers
        )
        raise SystemExit(f"set {names} first: the relay verifies webhooks with it")
    # Not asyncio.run: run() also shuts the Temporal runtime down before the process
    # exits, so no Rust thread is left calling into a finalizing interpreter.
    run(serve(settings))


if __name__ == "__main__":
    main()
