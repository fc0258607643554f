"""Run ASGI apps (relay, sandbox) inside an asyncio program that owns the signals."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any

import uvicorn


class ServerFailed(RuntimeError):
    """The server could not start (a port taken, the app's startup failed)."""


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the program embedding it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Do not install handlers: the embedding program decides when to stop."""
        yield

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve; a failed startup raises :class:`ServerFailed` instead of exiting.

        uvicorn calls ``sys.exit(3)`` when it cannot bind or the app's startup fails. In
        a task, that SystemExit escapes the event loop and ends the whole program with a
        traceback; the embedding program reports it instead.
        """
        try:
            await super().serve(sockets)
        except SystemExit as exc:
            cause = exc.__context__
            raise ServerFailed(str(cause) if cause is not None else "startup failed") from None

    @property
    def port(self) -> int:
        """The port actually bound (useful when configured with port 0)."""
        for server in getattr(self, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self.config.port)


class RunningServer:
    """Handle on a started :class:`EmbeddedServer` and the task serving it."""

    def __init__(self, server: EmbeddedServer, task: asyncio.Task[None]) -> None:
        """Keep the server and its serving task."""
        self.server = server
        self.task = task

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://{self.server.config.host}:{self.server.port}"

    async def wait_for(self, stop: asyncio.Event) -> None:
        """Wait until ``stop`` is set, or until the server ends on its own.

        The second, so that a server that died does not leave its program half alive.
        """
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({stopping, self.task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()

    async def stop(self) -> None:
        """Ask the server to finish in-flight requests and exit, then wait for it."""
        self.server.should_exit = True
        await self.task


async def start_server(
    app: Any, host: str, port: int, startup_timeout: float = 15.0
) -> RunningServer:
    """Start serving ``app`` and return once it accepts connections.

    Raises:
        RuntimeError: the server did not start (port taken, app startup failed).
    """
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + startup_timeout
    while not server.started:
        if task.done():
            reason = "it stopped"
            with contextlib.suppress(BaseException):
                task.result()
            if not task.cancelled() and task.exception() is not None:
                reason = str(task.exception())
            raise RuntimeError(f"server on {host}:{port} failed to start: {reason}")
        if loop.time() > deadline:
            server.should_exit = True
            raise RuntimeError(f"server on {host}:{port} did not start in {startup_timeout}s")
        await asyncio.sleep(0.02)
    return RunningServer(server, task)
