"""A loopback TCP proxy a test can cut and restore: a real network outage, on demand."""

from __future__ import annotations

import asyncio
import contextlib

CHUNK = 64 * 1024


class TcpProxy:
    """Forwards connections on a loopback port to ``target_host:target_port``.

    :meth:`cut` closes the listening socket and every forwarded connection, so clients
    see exactly what they would see if the target went away; :meth:`restore` listens
    again on the same port.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        """Prepare; nothing listens until :meth:`start`."""
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def address(self) -> str:
        """``host:port`` clients connect to."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (on a free port the first time, on the same port afterwards)."""
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def restore(self) -> None:
        """Listen again after :meth:`cut`."""
        await self.start()

    async def cut(self) -> None:
        """Stop listening and drop every forwarded connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        # Closing both ends ends every pipe; the handlers then return on their own (a
        # cancelled stream handler makes asyncio log an error).
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
            except OSError:
                writer.close()
                return
            self._writers.update((writer, upstream_writer))
            await asyncio.gather(
                _pipe(reader, upstream_writer),
                _pipe(upstream_reader, writer),
                return_exceptions=True,
            )
        finally:
            self._tasks.discard(task)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(CHUNK):
            sink.write(chunk)
            await sink.drain()
    finally:
        with contextlib.suppress(Exception):
            sink.close()
