"""Tests of the webhook relay."""
