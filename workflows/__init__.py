"""Deterministic workflow code only: one business process per module."""
