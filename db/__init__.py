"""Database: schema, sessions, Alembic migrations, and the double-entry ledger."""
