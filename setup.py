"""The package layout, computed: pyproject.toml holds the metadata, this file the packages.

The code folders sit at the repository's top level and install under one import root,
``payments_engine.<folder>`` (see the comment in pyproject.toml). Their sub-packages are
discovered, not listed, so a new one (``activities/providers/hub``, say) ships without
touching this file; only a new top-level code folder has to be added to CODE_FOLDERS.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

ROOT = "payments_engine"
SETUP_SCRIPT = Path(__file__).resolve()
HERE = SETUP_SCRIPT.parent

# The top-level folders that make up the product. Everything else at the top level
# (tests, bench, deploy, build outputs, hidden folders) stays out of the wheel.
CODE_FOLDERS = (
    "activities",
    "db",
    "domain",
    "relay",
    "runtime",
    "sandbox",
    "starter",
    "worker",
    "workflows",
)

# Never packages, at any depth under a code folder. Folders whose name holds a dot
# (.hidden, *.egg-info) are skipped by setuptools' discovery itself.
NOT_PACKAGES = ("__pycache__", "tests", "bench", "deploy", "build", "dist")


def code_packages() -> list[str]:
    """``payments_engine`` and every package under the code folders, regular or namespace.

    Namespace packages count too: ``db/migrations`` (Alembic's env.py and versions/) has
    no ``__init__.py`` and must ship all the same. Each code folder is searched on its own,
    so nothing else at the top level (a venv, build/) is even walked.
    """
    exclude = [p for name in NOT_PACKAGES for p in (name, f"{name}.*", f"*.{name}", f"*.{name}.*")]
    packages = [ROOT]
    for folder in CODE_FOLDERS:
        packages.append(f"{ROOT}.{folder}")
        found = find_namespace_packages(where=str(HERE / folder), exclude=exclude)
        packages.extend(sorted(f"{ROOT}.{folder}.{package}" for package in found))
    return packages


class BuildPy(build_py):
    """build_py that leaves this file out of the wheel.

    ``payments_engine`` maps to the repository root, where setup.py lives: setuptools
    would ship it as ``payments_engine/setup.py`` (its own exclusion of the setup script
    misses under PEP 517 builds, where the running script is the build backend's hook).
    """

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        modules: list[tuple[str, str, str]] = super().find_package_modules(package, package_dir)
        if package != ROOT:
            return modules
        return [m for m in modules if Path(m[2]).resolve() != SETUP_SCRIPT]


setup(
    cmdclass={"build_py": BuildPy},
    package_dir={ROOT: "."},
    packages=code_packages(),
    package_data={f"{ROOT}.db": ["alembic.ini", "migrations/script.py.mako"]},
)
