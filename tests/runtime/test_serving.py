"""Embedded ASGI servers: a failed start is an error of the program, not its exit."""

from __future__ import annotations

import socket

import pytest
from fastapi import FastAPI

from payments_engine.runtime.serving import start_server


async def test_a_taken_port_fails_the_start_with_its_reason_not_an_exit() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        # uvicorn itself would sys.exit(3): a SystemExit escaping the event loop.
        with pytest.raises(RuntimeError, match=rf"127.0.0.1:{port} failed to start: .*in use"):
            await start_server(FastAPI(), "127.0.0.1", port)


async def test_a_free_port_serves_until_stopped() -> None:
    running = await start_server(FastAPI(), "127.0.0.1", 0)
    try:
        assert running.server.started
        assert running.url.startswith("http://127.0.0.1:")
    finally:
        await running.stop()
    assert running.task.done()
