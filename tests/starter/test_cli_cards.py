"""``payments card``: bad input refused before Temporal, every mistake told at once.

Temporal's address points at a closed port, so a command that tried to connect before
validating would exit 1 instead of 2. The cardholder's data never appears in the output.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner, Result

from payments_engine.starter.cli import app
from tests.starter.test_cli_input import ID_RULE, UNREACHABLE, _assert_refused

ISSUE = {
    "--id": "cd-1",
    "--currency": "KES",
    "--first-name": "Achieng",
    "--last-name": "Otieno",
    "--dob": "1992-07-14",
    "--id-number": "31415926",
    "--country": "KE",
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"PAYMENTS_TEMPORAL_ADDRESS": UNREACHABLE})


def _issue(runner: CliRunner, **over: str) -> Result:
    options = {**ISSUE, **{f"--{k.replace('_', '-')}": v for k, v in over.items()}}
    args = ["card", "issue"]
    for name, value in options.items():
        args += [name, value]
    return runner.invoke(app, args)


@pytest.mark.parametrize(
    ("over", "line"),
    [
        ({"id": "bad id"}, f"id: {ID_RULE}"),
        ({"dob": "1992-13-01"}, None),
        ({"country": "KEN"}, "country: string should have at most 2 characters"),
        ({"id_number": "12"}, "id-number: string should have at least 4 characters"),
        ({"id_type": "licence"}, None),
        ({"per_authorization": "0"}, "per-authorization: input should be greater than 0"),
        (
            {"per_authorization": "1.001"},
            "per-authorization: KES has 2 decimal places; '1.001' has more",
        ),
        ({"low_balance": "0.001"}, "low-balance: KES has 2 decimal places; '0.001' has more"),
        (
            {"per_authorization": "100.00", "daily_amount": "50.00"},
            "the daily amount limit cannot be below the per-authorization limit",
        ),
        ({"daily_count": "0"}, "daily-count: input should be greater than 0"),
        ({"countries": "KE,Kenya"}, None),
        ({"block_mcc": "79"}, None),
        ({"day_offset_minutes": "900"}, None),
        ({"low_balance": "-1"}, None),
        ({"provider": "hub"}, "provider: provider 'hub' does not issue cards"),
    ],
)
def test_card_issue_refuses_bad_input(
    runner: CliRunner, over: dict[str, str], line: str | None
) -> None:
    result = _issue(runner, **over)
    if line is None:
        # Refused before Temporal, naming no personal data.
        assert result.exit_code == 2, result.output
        assert "invalid input" in result.stderr
    else:
        _assert_refused(result, line)
    assert "Otieno" not in result.output and "31415926" not in result.output


def test_every_mistake_is_told_at_once(runner: CliRunner) -> None:
    result = _issue(runner, dob="1992-13-01", country="KEN", per_authorization="0")
    assert result.exit_code == 2
    for field in ("dob", "country", "per-authorization"):
        assert field in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["card", "fund", "cd-1", "--amount", "0", "--currency", "KES", "--reference", "r"],
            "amount",
        ),
        (
            ["card", "fund", "cd-1", "--amount", "-5", "--currency", "KES", "--reference", "r"],
            "amount",
        ),
        (
            ["card", "fund", "cd-1", "--amount", "5", "--currency", "XXX", "--reference", "r"],
            "currency",
        ),
        (["card", "fund", "cd 1", "--amount", "5", "--currency", "KES", "--reference", "r"], "id"),
        (
            ["card", "fund", "cd-1", "--amount", "5", "--currency", "KES", "--reference", "a b"],
            "reference",
        ),
        (["card", "freeze", "bad id"], "id"),
        (["card", "show", "bad id"], "id"),
        (["card", "transactions", "bad id"], "id"),
        (["card", "terminate", "bad id"], "id"),
    ],
)
def test_card_commands_refuse_bad_input(runner: CliRunner, args: list[str], needle: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "invalid input" in result.stderr and needle in result.stderr
