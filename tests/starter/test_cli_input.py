"""The CLI's bad-input path: exit 2 with a clear message before connecting to Temporal.

Temporal's address points at a closed port, so a command that tried to connect before
validating would exit 1 with "cannot reach Temporal" instead of 2. With typer's
CliRunner (click >= 8.2) ``result.stderr`` is always captured apart from
``result.stdout``, and ``result.output`` mixes both.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner, Result

from payments_engine.starter.cli import app

UNREACHABLE = "127.0.0.1:1"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"PAYMENTS_TEMPORAL_ADDRESS": UNREACHABLE})


def _flat(text: str) -> str:
    """Undo rich's line wrapping so messages can be matched whole."""
    return " ".join(text.split())


def _create(runner: CliRunner, **overrides: str) -> Result:
    options = {
        "--id": "po-1",
        "--amount": "1500.00",
        "--currency": "KES",
        "--phone": "+254712345678",
        "--country": "KE",
    }
    options.update(overrides)
    args = ["payout", "create"]
    for name, value in options.items():
        args += [name, value]
    return runner.invoke(app, args)


def _assert_refused(result: Result, *fragments: str) -> None:
    stderr = _flat(result.stderr)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in stderr
    assert result.stdout == ""
    assert "Temporal" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"--amount": "0"}, ["invalid input", "amount", "greater than zero"]),
        ({"--amount": "-5"}, ["invalid input", "amount", "greater than zero"]),
        ({"--amount": "12.345"}, ["InvalidAmount", "KES has 2 decimal"]),
        (
            {
                "--amount": "15.5",
                "--currency": "UGX",
                "--phone": "+256772123456",
                "--country": "UG",
            },
            ["InvalidAmount", "UGX has 0 decimal"],
        ),
        ({"--amount": "abc"}, ["InvalidAmount", "not a decimal amount"]),
        ({"--currency": "XYZ"}, ["UnknownCurrency", "'XYZ'"]),
        ({"--phone": "+256772123456"}, ["invalid input", "belongs to UG, not KE"]),
        ({"--phone": "12345"}, ["invalid input", "phone number"]),
        ({"--phone": "not-a-number"}, ["invalid input", "phone number"]),
        ({"--id": "a b"}, ["invalid input", "payout_id", "1-64 characters"]),
        ({"--id": "x" * 65}, ["invalid input", "payout_id"]),
        ({"--merchant": "m/1"}, ["invalid input", "merchant_id"]),
        (
            {"--provider": "mpesa"},
            ["ProviderNotConfigured", "unknown provider 'mpesa'", "known: hub, momo"],
        ),
        ({"--provider": "Hub Two"}, ["invalid input", "provider"]),
    ],
    ids=[
        "amount-zero",
        "amount-negative",
        "kes-three-decimals",
        "ugx-decimals",
        "amount-not-a-number",
        "unknown-currency",
        "phone-other-country",
        "phone-invalid",
        "phone-garbage",
        "id-with-space",
        "id-too-long",
        "bad-merchant",
        "unknown-provider",
        "bad-provider-name",
    ],
)
def test_payout_create_bad_input_exits_2_before_connecting(
    runner: CliRunner, overrides: dict[str, str], fragments: list[str]
) -> None:
    _assert_refused(_create(runner, **overrides), *fragments)


@pytest.mark.parametrize(
    ("amount", "currency", "reference", "fragments"),
    [
        ("0", "KES", "bank-1", ["invalid input", "greater than zero"]),
        ("-10", "KES", "bank-1", ["invalid input", "greater than zero"]),
        ("100", "XYZ", "bank-1", ["UnknownCurrency", "'XYZ'"]),
        ("100.001", "KES", "bank-1", ["InvalidAmount", "KES has 2 decimal"]),
        ("100", "KES", "bank ref", ["invalid input", "reference", "1-64 characters"]),
    ],
)
def test_ledger_fund_bad_input_exits_2_before_connecting(
    runner: CliRunner, amount: str, currency: str, reference: str, fragments: list[str]
) -> None:
    result = runner.invoke(
        app,
        ["ledger", "fund", "--amount", amount, "--currency", currency, "--reference", reference],
    )
    _assert_refused(result, *fragments)


def test_payout_resolve_to_a_non_final_outcome_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["payout", "resolve", "po-1", "--outcome", "submitted", "--note", "checked"]
    )
    _assert_refused(result, "invalid input", "succeeded or failed")


def test_good_input_with_temporal_unreachable_says_so(runner: CliRunner) -> None:
    result = _create(runner)
    assert result.exit_code not in (0, 2), result.output
    assert isinstance(result.exception, SystemExit)
    message = _flat(result.stderr)
    assert "cannot reach Temporal" in message
    assert UNREACHABLE in message
    assert "Traceback" not in result.output
