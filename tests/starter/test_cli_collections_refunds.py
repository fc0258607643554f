"""``payments collection`` and ``payments refund``: bad input refused before Temporal.

Temporal's address points at a closed port, so a command that tried to connect before
validating would exit 1 instead of 2; every refusal is one line, ``invalid input:
<field>: <reason>``, as for payouts, and never shows the phone number.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner, Result

from payments_engine.starter.cli import app
from tests.starter.test_cli_input import ID_RULE, UNREACHABLE, _assert_refused


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"PAYMENTS_TEMPORAL_ADDRESS": UNREACHABLE})


def _invoke(runner: CliRunner, command: list[str], defaults: dict[str, str], **over: str) -> Result:
    options = {**defaults, **{f"--{k.replace('_', '-')}": v for k, v in over.items()}}
    args = list(command)
    for name, value in options.items():
        args += [name, value]
    return runner.invoke(app, args)


def _collect(runner: CliRunner, **over: str) -> Result:
    defaults = {
        "--id": "co-1",
        "--amount": "1500.00",
        "--currency": "KES",
        "--phone": "+254712345678",
        "--country": "KE",
    }
    return _invoke(runner, ["collection", "create"], defaults, **over)


def _refund(runner: CliRunner, **over: str) -> Result:
    defaults = {
        "--id": "rf-1",
        "--original": "co-1",
        "--amount": "400.00",
        "--currency": "KES",
        "--reason": "damaged",
    }
    return _invoke(runner, ["refund", "create"], defaults, **over)


@pytest.mark.parametrize(
    ("over", "line"),
    [
        ({"amount": "0"}, "amount: a collection amount must be greater than zero"),
        ({"amount": "1.001"}, "amount: KES has 2 decimal places; '1.001' has more"),
        ({"currency": "XXX"}, None),
        ({"id": "bad id"}, f"id: {ID_RULE}"),
        ({"phone": "+256772123456"}, "phone: belongs to UG, not KE"),
        ({"window": "601"}, "window: input should be less than or equal to 600"),
        ({"window": "0"}, "window: input should be greater than or equal to 1"),
        ({"provider": "mpesa"}, "provider: unknown provider 'mpesa'; known: hub, momo"),
    ],
)
def test_collection_create_refuses_bad_input(
    runner: CliRunner, over: dict[str, str], line: str | None
) -> None:
    result = _collect(runner, **over)
    if line is None:
        assert result.exit_code == 2 and "currency" in result.stderr
        return
    _assert_refused(result, line)


@pytest.mark.parametrize(
    ("over", "line"),
    [
        ({"amount": "0"}, "amount: a refund amount must be greater than zero"),
        ({"amount": "-5"}, None),
        ({"reason": ""}, "reason: string should have at least 1 character"),
        ({"id": "rf 1"}, f"id: {ID_RULE}"),
        ({"original": "co/1"}, f"original: {ID_RULE}"),
    ],
)
def test_refund_create_refuses_bad_input(
    runner: CliRunner, over: dict[str, str], line: str | None
) -> None:
    result = _refund(runner, **over)
    if line is None:
        assert result.exit_code == 2 and "amount" in result.stderr
        return
    _assert_refused(result, line)


def test_every_mistake_is_told_at_once(runner: CliRunner) -> None:
    result = _refund(runner, amount="0", reason="", id="x y")
    _assert_refused(
        result,
        f"id: {ID_RULE}; amount: a refund amount must be greater than zero;"
        " reason: string should have at least 1 character",
    )


@pytest.mark.parametrize(
    "args",
    [
        ["collection", "status", "bad id"],
        ["refund", "status", "bad id"],
        ["refund", "list", "--original", "bad id"],
    ],
)
def test_lookups_refuse_bad_ids(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert ID_RULE in " ".join(result.stderr.split())


def test_a_valid_request_gets_as_far_as_temporal(runner: CliRunner) -> None:
    result = _collect(runner)
    assert result.exit_code == 1
    assert "cannot reach Temporal" in result.output


def test_a_refund_without_its_id_is_refused(runner: CliRunner) -> None:
    args = ["refund", "create", "--original", "co-1", "--amount", "4.00", "--currency", "KES"]
    result = runner.invoke(app, [*args, "--reason", "x"])
    assert result.exit_code == 2
    assert "Missing option '--id'" in " ".join(result.stderr.split())
    assert "Temporal" not in result.output
