"""``payments dev`` with a port taken: one plain line naming it and its holder, nothing started."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from payments_engine.starter.ports import Port, PortTaken, check_free, holder_of
from payments_engine.starter.stack import installed_binary
from tests.integration.processes import free_port, processes_mentioning


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port this test process listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_holder_of_a_port_is_named(held_port: int) -> None:
    assert (
        holder_of(held_port) == f"pid {os.getpid()} ({Path('/proc/self/comm').read_text().strip()})"
    )
    with pytest.raises(
        PortTaken, match=rf"port {held_port} \(relay\) is taken by pid {os.getpid()}"
    ):
        check_free([Port("relay", "127.0.0.1", held_port, "PAYMENTS_RELAY_PORT")])
    check_free([Port("relay", "127.0.0.1", free_port(), "PAYMENTS_RELAY_PORT")])


@pytest.mark.parametrize(
    ("setting", "purpose"),
    [
        ("temporal_address", "Temporal frontend"),
        ("relay_port", "webhook relay"),
        ("codec_port", "codec server"),
    ],
)
def test_payments_dev_refuses_a_taken_port_in_one_line(
    setting: str, purpose: str, held_port: int, tmp_path: Path
) -> None:
    settings = {
        "data_dir": tmp_path / "data",
        "temporal_address": f"127.0.0.1:{free_port()}",
        "temporal_ui_port": free_port(),
        "relay_port": free_port(),
        "sandbox_port": free_port(),
        "codec_port": free_port(),
    }
    settings[setting] = f"127.0.0.1:{held_port}" if setting == "temporal_address" else held_port
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")}
    env |= {f"PAYMENTS_{name.upper()}": str(value) for name, value in settings.items()}

    done = subprocess.run(
        [installed_binary("payments"), "dev"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert f"port {held_port} ({purpose}) is taken by pid {os.getpid()}" in output
    assert "Traceback" not in output and "is running" not in output
    # One plain line: what, by whom, and the setting that moves it.
    variable = f"PAYMENTS_{setting.upper()}"
    assert any(
        line.startswith("payments dev cannot start: port") and line.endswith(variable)
        for line in output.splitlines()
    ), output
    # Nothing was started: no Temporal server on this data dir.
    assert processes_mentioning(str((tmp_path / "data" / "temporal.db").resolve())) == []
