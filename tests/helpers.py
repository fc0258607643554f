"""Small helpers shared by the tests."""

from __future__ import annotations

from payments_engine.starter.stack import installed_binary


def venv_binary(name: str) -> str:
    """Path of a console binary installed with the project (temporal, temporal-test-server)."""
    return installed_binary(name)
