"""The README's walkthrough, run as a user would: what it shows is what the program does.

``payments dev`` runs in a fresh directory on free ports; every ``$ payments ...``
command of the walkthrough's code blocks runs in order against it, and its output and
exit status are compared with the README's. Only what changes from run to run is masked
(times, generated ids, ports, paths, the provider's transaction ids), and runs of spaces
count as one, so columns may be wider or narrower; words, numbers, column names,
messages and exit statuses must match.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from payments_engine.starter.stack import installed_binary
from tests.integration.processes import engine_env, free_port, start, stop

pytestmark = [pytest.mark.integration, pytest.mark.slow]

README = Path(__file__).resolve().parents[2] / "README.md"
COMMAND_SECONDS = 240.0

_MASKS = [
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?Z?"), "<time>"),
    (re.compile(r"demo-\d{14}-"), "demo-<run>-"),
    (re.compile(r"MFS[0-9A-F]{12}"), "<transaction>"),
    (re.compile(r"(localhost|127\.0\.0\.1):\d+"), "<host>"),
    (re.compile(r"sqlite\+aiosqlite:///\S+/ledger\.db"), "<ledger>"),
    (re.compile(r"[─━]+"), "─"),
]


def normalise(text: str) -> list[str]:
    """Lines with what varies masked and spaces collapsed; blank lines dropped."""
    lines = []
    for line in text.splitlines():
        for pattern, mask in _MASKS:
            line = pattern.sub(mask, line)
        line = " ".join(line.split())
        if line:
            lines.append(line)
    return lines


@dataclass
class Step:
    """One ``$ payments ...`` line of the walkthrough and what the README shows after it."""

    command: list[str]
    expected: str

    @property
    def expected_status(self) -> int:
        """Bad input exits 2; the README shows it as ``invalid input: ...``."""
        return 2 if self.expected.lstrip().startswith("invalid input:") else 0


def walkthrough() -> list[Step]:
    """The commands of the README's Walkthrough section, in order."""
    text = README.read_text()
    section = text.split("\n## Walkthrough\n", 1)[1].split("\n## ", 1)[0]
    steps: list[Step] = []
    for block in re.findall(r"^```\n(.*?)^```", section, flags=re.S | re.M):
        current: Step | None = None
        for line in block.splitlines():
            if line.startswith("$ payments "):
                current = Step(shlex.split(line[2:]), "")
                steps.append(current)
            elif current is not None:
                current.expected += line + "\n"
    return steps


def test_the_walkthrough_is_found() -> None:
    commands = [" ".join(step.command[:3]) for step in walkthrough()]
    assert commands[0] == "payments dev"
    assert "payments demo" in commands
    assert "payments payout create" in commands


def test_readme_walkthrough_does_what_it_says(exit_probe: Path, tmp_path: Path) -> None:
    steps = walkthrough()
    env = engine_env(
        tmp_path / ".payments",
        exit_probe,
        temporal_address=f"127.0.0.1:{free_port()}",
        sandbox_settle_seconds=1.0,
    )
    # What the user sets: nothing but ports; the sandbox's secrets are made up by dev.
    for variable in ("PAYMENTS_HUB_API_KEY", "PAYMENTS_HUB_WEBHOOK_SECRET"):
        env.pop(variable)
    dev = start([installed_binary("payments"), "dev"], env, tmp_path / "dev.log", tmp_path)
    try:
        dev.wait_for("Try it: payments demo")
        assert normalise(dev.output()) == normalise(steps[0].expected)
        demo_id: str | None = None
        for step in steps[1:]:
            command = [installed_binary("payments"), *step.command[1:]]
            if demo_id is not None:
                command = [re.sub(r"demo-\d{14}-", demo_id, part) for part in command]
            done = subprocess.run(
                command,
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=COMMAND_SECONDS,
            )
            shown = " ".join(step.command)
            assert done.returncode == step.expected_status, (shown, done.stdout, done.stderr)
            # The exit probe every test process carries reports on stderr: not the CLI's.
            actual = "\n".join(
                line
                for line in (done.stdout + done.stderr).splitlines()
                if not line.startswith("exit probe: ")
            )
            assert normalise(actual) == normalise(step.expected), shown
            found = re.search(r"demo-\d{14}-", actual)
            if step.command[1] == "demo" and found:
                demo_id = found.group(0)
    finally:
        stop(dev.process)
