"""Apply the Alembic migrations of the ledger database, from code or ``payments migrate``.

The migrations ship inside the ``db`` package, so this works from an installed wheel as
well as from a checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

PACKAGE_DIR = Path(__file__).parent
ALEMBIC_INI = PACKAGE_DIR / "alembic.ini"
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"

logger = logging.getLogger(__name__)


def alembic_config(url: str) -> Config:
    """An Alembic config for the packaged migrations, aimed at ``url``.

    Args:
        url: SQLAlchemy async URL (``sqlite+aiosqlite://...``, ``postgresql+psycopg://...``).
    """
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Config values go through ConfigParser interpolation: a percent-encoded password
    # (``%40``) would otherwise be read as an interpolation directive.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def ensure_sqlite_directory(url: str) -> None:
    """Create the directory of a SQLite database file, which SQLite will not do itself."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


async def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision``; a no-op when it is already there.

    Args:
        url: SQLAlchemy async URL of the ledger database.
        revision: target revision, ``head`` by default.
    """
    ensure_sqlite_directory(url)
    # Alembic's commands are synchronous and env.py drives the async engine with
    # asyncio.run(), which refuses to run inside a running loop: use a worker thread.
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)


def main(argv: list[str] | None = None) -> None:
    """Upgrade the configured ledger database (``PAYMENTS_DATABASE_URL`` or SQLite)."""
    from payments_engine.runtime.settings import SettingsError, load_settings

    parser = argparse.ArgumentParser(
        prog="payments migrate", description="Apply the ledger database migrations."
    )
    parser.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        url = load_settings().resolved_database_url
    except SettingsError as exc:
        raise SystemExit(f"invalid settings: {exc}") from None
    safe_url = make_url(url).render_as_string(hide_password=True)
    logger.info("migrating %s to %s", safe_url, args.revision)
    asyncio.run(upgrade(url, args.revision))
    logger.info("database at %s is at %s", safe_url, args.revision)


if __name__ == "__main__":
    main()
