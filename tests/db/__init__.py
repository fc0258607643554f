"""Tests of the database package: migrations and the ledger."""
