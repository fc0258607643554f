"""The wheel, built and installed the way a user gets it: one import root, nothing else.

The code folders sit at the repository's top level and install as
``payments_engine.<folder>`` (setup.py computes the package list). These tests build a
wheel from a copy of the checkout's files (so no build/ or egg-info lands in the
checkout), check what it holds against the copy, install it with its dependencies into
a fresh virtual environment and use it from a directory holding the user's own ``db``,
``domain`` and ``workflows``: both must import side by side. Everything lives in a
temporary directory that is removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tomllib
import venv
import zipfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parent.parent
IMPORT_ROOT = "payments_engine"
# Top-level folders with Python code that are deliberately not shipped.
NOT_SHIPPED = {"tests", "bench"}
# Package data the engine cannot run without (Alembic's config and migrations).
MIGRATION_FILES = {
    "payments_engine/db/alembic.ini",
    "payments_engine/db/migrations/env.py",
    "payments_engine/db/migrations/script.py.mako",
}

# Building is quick; installing the dependencies from the index into a fresh virtual
# environment takes tens of seconds with a warm cache and minutes with a cold one.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@dataclass(frozen=True)
class Built:
    source: Path  # the copy of the checkout the wheel was built from
    files: tuple[PurePosixPath, ...]  # its files, relative, as git lists them
    wheel: Path


@dataclass(frozen=True)
class Installed:
    python: Path
    payments: Path
    site_packages: Path


def _clean_env(extra_path: Path | None = None, **overrides: str) -> dict[str, str]:
    """The environment minus anything that would steer Python, a venv or the engine."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "PAYMENTS_", "VIRTUAL_ENV", "CONDA_"))
    }
    if extra_path is not None:
        env["PATH"] = f"{extra_path}{os.pathsep}{env.get('PATH', '')}"
    env.update(overrides)
    return env


def _run(
    args: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result


def _checkout_files() -> list[PurePosixPath]:
    """Tracked files plus new, not ignored ones: what ``pip install .`` would see."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to know which files are the sources")
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    files = []
    for name in sorted(set(filter(None, listing.split("\0")))):
        path = REPO / name
        if path.is_symlink() or path.is_file():  # deleted but still tracked: skip
            files.append(PurePosixPath(name))
    return files


def _wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if not name.endswith("/")}


def _dist_info() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"


def _code_files(files: tuple[PurePosixPath, ...]) -> set[PurePosixPath]:
    """Files under the top-level folders that hold Python code, less the unshipped ones.

    Worked out from the files, not from setup.py, so a new code folder that setup.py
    does not know about fails here instead of silently missing from the wheel.
    """
    folders = {
        f.parts[0]
        for f in files
        if len(f.parts) > 1 and f.suffix == ".py" and not f.parts[0].startswith(".")
    } - NOT_SHIPPED
    return {f for f in files if f.parts[0] in folders and "__pycache__" not in f.parts}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("packaging")
    yield path
    shutil.rmtree(path, ignore_errors=True)  # the venv alone is hundreds of MB


@pytest.fixture(scope="module")
def built(workdir: Path) -> Built:
    files = tuple(_checkout_files())
    source = workdir / "source"
    for name in files:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target, follow_symlinks=False)
    out = workdir / "wheelhouse"
    # Built with isolation, as `pip install .` and the Dockerfile do: the backend is the
    # setuptools that pyproject's [build-system] asks for, not whatever the venv holds.
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, source],
        cwd=workdir,
        env=_clean_env(),
    )
    (wheel,) = out.glob("payments_engine-*.whl")
    return Built(source=source, files=files, wheel=wheel)


@pytest.fixture(scope="module")
def installed(built: Built, workdir: Path) -> Installed:
    env_dir = workdir / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    _run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", built.wheel],
        cwd=workdir,
        env=_clean_env(env_dir / "bin"),
        timeout=540,
    )
    site_packages = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            cwd=workdir,
            env=_clean_env(),
        ).stdout.strip()
    )
    return Installed(
        python=python, payments=env_dir / "bin" / "payments", site_packages=site_packages
    )


@pytest.fixture(scope="module")
def user_project(workdir: Path) -> Path:
    """A user's own project whose top-level names clash with the engine's folders."""
    project = workdir / "user-project"
    (project / "db").mkdir(parents=True)
    (project / "db" / "__init__.py").write_text('"""The user\'s own db package."""\n')
    (project / "db" / "ledger.py").write_text(
        '"""A ledger that has nothing to do with the engine."""\n\n'
        'ACCOUNTS = {"alice": 100, "bob": 50}\n\n\n'
        "def balance(name: str) -> int:\n"
        "    return ACCOUNTS[name]\n"
    )
    (project / "domain").mkdir()
    (project / "domain" / "__init__.py").write_text('OWNER = "user"\n')
    # Like workflows.py in Temporal's money-transfer template.
    (project / "workflows.py").write_text(
        "from datetime import timedelta\n\n"
        "from temporalio import workflow\n\n\n"
        "@workflow.defn\n"
        "class MoneyTransfer:\n"
        "    @workflow.run\n"
        "    async def run(self, amount: int) -> str:\n"
        "        await workflow.sleep(timedelta(seconds=1))\n"
        '        return f"transferred {amount}"\n'
    )
    return project


def test_wheel_has_one_import_root(built: Built) -> None:
    names = _wheel_names(built.wheel)
    top_level = {name.split("/", 1)[0] for name in names}
    assert top_level == {IMPORT_ROOT, _dist_info()}
    with zipfile.ZipFile(built.wheel) as archive:
        declared = archive.read(f"{_dist_info()}/top_level.txt").decode().split()
        entry_points = archive.read(f"{_dist_info()}/entry_points.txt").decode()
    assert declared == [IMPORT_ROOT]
    assert "payments = payments_engine.starter.entry:main" in entry_points
    # Nothing directly in the root: no __init__.py (a namespace package), no setup.py.
    assert [n for n in names if n.count("/") == 1 and n.startswith(f"{IMPORT_ROOT}/")] == []


def test_wheel_ships_every_code_file_and_the_migrations(built: Built) -> None:
    names = _wheel_names(built.wheel)
    expected = {f"{IMPORT_ROOT}/{f}" for f in _code_files(built.files)}
    shipped = {n for n in names if n.startswith(f"{IMPORT_ROOT}/")}
    assert expected <= shipped, f"missing from the wheel: {sorted(expected - shipped)}"
    assert shipped <= expected, f"in the wheel but not a source file: {sorted(shipped - expected)}"

    assert MIGRATION_FILES <= shipped
    versions = {n for n in shipped if n.startswith(f"{IMPORT_ROOT}/db/migrations/versions/")}
    sources = {f for f in built.files if f.parent == PurePosixPath("db/migrations/versions")}
    assert len(versions) == len(sources) >= 1
    # New sub-packages are found, not listed: namespace ones (no __init__.py) included.
    assert f"{IMPORT_ROOT}/db/migrations/versions/__init__.py" not in shipped
    for unshipped in NOT_SHIPPED | {"deploy"}:
        assert not any(n.startswith(f"{IMPORT_ROOT}/{unshipped}/") for n in names)


IMPORT_CHECK = """
import json, sys
from pathlib import Path

from payments_engine.domain.money import Money
from payments_engine.domain.payout import PayoutRequest
from payments_engine.runtime.settings import Settings
from payments_engine.starter.client import PaymentsClient
from payments_engine.workflows.payout import PayoutWorkflow
from payments_engine.db.migrate import ALEMBIC_INI, MIGRATIONS_DIR, alembic_config
from alembic.script import ScriptDirectory

import db.ledger
import domain
import workflows

import payments_engine
import payments_engine.db
import payments_engine.domain

request = PayoutRequest(
    payout_id="po-1",
    amount=Money(amount=150000, currency="KES"),
    recipient_msisdn="0712345678",
    country="ke",
)
script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite:///unused.db"))
print(json.dumps({
    "root_path": [str(p) for p in payments_engine.__path__],
    "root_file": getattr(payments_engine, "__file__", None),
    "engine_db": payments_engine.db.__file__,
    "engine_domain": payments_engine.domain.__file__,
    "client": sys.modules[PaymentsClient.__module__].__file__,
    "workflow": [PayoutWorkflow.__name__, sys.modules[PayoutWorkflow.__module__].__file__],
    "task_queue": Settings().task_queue,
    "request": json.loads(request.model_dump_json()),
    "alembic_ini": str(ALEMBIC_INI),
    "alembic_ini_is_file": ALEMBIC_INI.is_file(),
    "migrations_dir": str(MIGRATIONS_DIR),
    "head": script.get_current_head(),
    "user_db": db.__file__,
    "user_ledger": [db.ledger.__file__, db.ledger.balance("alice")],
    "user_domain": [domain.__file__, domain.OWNER],
    "user_workflows": [workflows.__file__, workflows.MoneyTransfer.__name__],
}))
"""


def test_installed_engine_imports_beside_the_users_own_packages(
    installed: Installed, user_project: Path
) -> None:
    # Run as a script in the user's directory: its folder comes first on sys.path, as
    # for any application, so `db`, `domain` and `workflows` are the user's.
    (user_project / "app.py").write_text(IMPORT_CHECK)
    result = _run(
        [installed.python, "app.py"],
        cwd=user_project,
        env=_clean_env(installed.python.parent),
    )
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    site = installed.site_packages.resolve()
    engine = site / IMPORT_ROOT

    def resolved(path: str) -> Path:
        return Path(path).resolve()

    assert [resolved(p) for p in facts["root_path"]] == [engine]
    assert facts["root_file"] is None  # a namespace package
    assert resolved(facts["engine_db"]) == engine / "db" / "__init__.py"
    assert resolved(facts["engine_domain"]) == engine / "domain" / "__init__.py"
    assert resolved(facts["client"]) == engine / "starter" / "client.py"
    assert facts["workflow"][0] == "PayoutWorkflow"
    assert resolved(facts["workflow"][1]) == engine / "workflows" / "payout.py"
    assert facts["task_queue"] == "payments"
    assert facts["request"]["recipient_msisdn"] == "+254712345678"
    assert facts["request"]["country"] == "KE"
    assert facts["request"]["amount"] == {"amount": 150000, "currency": "KES"}

    assert resolved(facts["alembic_ini"]) == engine / "db" / "alembic.ini"
    assert facts["alembic_ini_is_file"] is True
    assert resolved(facts["migrations_dir"]) == engine / "db" / "migrations"
    assert facts["head"]

    project = user_project.resolve()
    assert resolved(facts["user_db"]) == project / "db" / "__init__.py"
    assert resolved(facts["user_ledger"][0]) == project / "db" / "ledger.py"
    assert facts["user_ledger"][1] == 100
    assert resolved(facts["user_domain"][0]) == project / "domain" / "__init__.py"
    assert facts["user_domain"][1] == "user"
    assert resolved(facts["user_workflows"][0]) == project / "workflows.py"
    assert facts["user_workflows"][1] == "MoneyTransfer"


def test_installed_cli_runs_and_migrates_from_the_packaged_files(
    installed: Installed, user_project: Path
) -> None:
    data_dir = user_project / ".payments-test"
    env = _clean_env(
        installed.python.parent, PAYMENTS_DATA_DIR=str(data_dir), COLUMNS="200", NO_COLOR="1"
    )

    help_text = _run([installed.payments, "--help"], cwd=user_project, env=env).stdout
    for command in ("dev", "worker", "migrate", "payout", "ledger"):
        assert command in help_text, help_text

    # A real migration from the installed wheel: alembic.ini, env.py and every version.
    migrated = _run([installed.payments, "migrate"], cwd=user_project, env=env)
    assert "ledger database is up to date" in migrated.stdout
    head = _run(
        [
            installed.python,
            "-c",
            "from alembic.script import ScriptDirectory;"
            "from payments_engine.db.migrate import alembic_config;"
            "print(ScriptDirectory.from_config(alembic_config('sqlite://')).get_current_head())",
        ],
        cwd=user_project,
        env=env,
    ).stdout.strip()
    with closing(sqlite3.connect(data_dir / "ledger.db")) as conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert version == head
    assert "alembic_version" in tables and len(tables) > 1
