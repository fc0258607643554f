"""``payments worker|relay|sandbox``: each engine process has its own subcommand."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time

import httpx
from typer.testing import CliRunner

from payments_engine.starter.cli import app
from payments_engine.starter.stack import installed_binary
from tests.integration.processes import free_port

runner = CliRunner()


def test_sandbox_takes_its_own_options() -> None:
    result = runner.invoke(app, ["sandbox", "--help"])
    assert result.exit_code == 0
    assert "usage: payments sandbox" in result.output
    assert "--webhook-url" in result.output and "--state-file" in result.output


def test_relay_refuses_to_start_without_its_secret() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")}
    result = runner.invoke(app, ["relay"], env=env | {"PAYMENTS_HUB_WEBHOOK_SECRET": ""})
    assert result.exit_code != 0
    assert "PAYMENTS_HUB_WEBHOOK_SECRET" in result.output


def test_sandbox_serves_and_stops_cleanly() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")}
    env |= {
        "PAYMENTS_HUB_API_KEY": secrets.token_urlsafe(16),
        "PAYMENTS_HUB_WEBHOOK_SECRET": secrets.token_urlsafe(16),
    }
    command = [installed_binary("payments"), "sandbox", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--webhook-url", "none"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()[0].decode()
            assert time.monotonic() < deadline, "the sandbox did not answer"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
