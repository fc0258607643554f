"""The CLI's bad-input path: exit 2 with one line before connecting to Temporal.

Temporal's address points at a closed port, so a command that tried to connect before
validating would exit 1 with "cannot reach Temporal" instead of 2. With typer's
CliRunner (click >= 8.2) ``result.stderr`` is always captured apart from
``result.stdout``, and ``result.output`` mixes both.

Every refusal is the line ``invalid input: <field>: <reason>`` (mistakes joined by
``; ``), the same ``<field>: <reason>`` the typed client's errors give through
``describe()``: the amount and currency cases are the table of
tests/domain/test_money.py, run here through ``payout create`` and ``ledger fund``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from payments_engine.domain.errors import PayoutNotResolvable
from payments_engine.domain.ledger import FundMerchantInput
from payments_engine.domain.money import Money
from payments_engine.domain.payout import PayoutRequest, PayoutView, ResolvePayout
from payments_engine.starter import cli
from payments_engine.starter.cli import app
from payments_engine.starter.errors import without_type_prefixes
from tests.domain.test_money import BAD_AMOUNTS, BAD_CURRENCIES, SERVED

UNREACHABLE = "127.0.0.1:1"
ID_RULE = (
    "ids are 1-64 characters of letters, digits, '_', '.', ':' or '-',"
    " starting with a letter or digit"
)
# The digits of every number used below: none may appear in any output.
NUMBERS = ("712345678", "772123456", "202222222")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"PAYMENTS_TEMPORAL_ADDRESS": UNREACHABLE})


def _flat(text: str) -> str:
    """Undo rich's line wrapping so messages can be matched whole."""
    return " ".join(text.split())


def _create(runner: CliRunner, *flags: str, **overrides: str) -> Result:
    options = {
        "--id": "po-1",
        "--amount": "1500.00",
        "--currency": "KES",
        "--phone": "+254712345678",
        "--country": "KE",
    }
    options.update(overrides)
    args = ["payout", "create", *flags]
    for name, value in options.items():
        args += [name, value]
    return runner.invoke(app, args)


def _fund(runner: CliRunner, **overrides: str) -> Result:
    options = {"--amount": "100", "--currency": "KES", "--reference": "bank-1"}
    options.update(overrides)
    args = ["ledger", "fund"]
    for name, value in options.items():
        args += [name, value]
    return runner.invoke(app, args)


def _assert_refused(result: Result, line: str) -> None:
    """Exit 2, nothing on stdout, exactly ``invalid input: <line>`` on stderr."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert _flat(result.stderr) == _flat(f"invalid input: {line}")
    assert result.stdout == ""
    assert "Temporal" not in result.output
    assert "Traceback" not in result.output
    assert not any(number in result.output for number in NUMBERS)


AMOUNT_CASES = [pytest.param(*case[1:], id=case[0]) for case in BAD_AMOUNTS]
CURRENCY_CASES = [pytest.param(*case[1:], id=case[0]) for case in BAD_CURRENCIES]


@pytest.mark.parametrize(("amount", "currency", "line"), AMOUNT_CASES)
def test_payout_create_refuses_the_bad_amounts(
    runner: CliRunner, amount: str, currency: str, line: str
) -> None:
    _assert_refused(_create(runner, **{"--amount": amount, "--currency": currency}), line)


@pytest.mark.parametrize(("currency", "line"), CURRENCY_CASES)
def test_payout_create_refuses_the_bad_currencies(
    runner: CliRunner, currency: str, line: str
) -> None:
    _assert_refused(_create(runner, **{"--currency": currency}), line)


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"--amount": "0"}, "amount: a payout amount must be greater than zero"),
        ({"--amount": "0.00"}, "amount: a payout amount must be greater than zero"),
        ({"--phone": "+256772123456"}, "phone: belongs to UG, not KE"),
        ({"--phone": "+254712345678", "--country": "UG"}, "phone: belongs to KE, not UG"),
        ({"--phone": "12345"}, "phone: not a valid number"),
        ({"--phone": "not-a-number"}, "phone: cannot be parsed"),
        ({"--phone": "+254202222222"}, "phone: not a mobile number"),
        ({"--country": "KEN"}, "country: string should have at most 2 characters"),
        ({"--id": "a b"}, f"id: {ID_RULE}"),
        ({"--id": "x" * 65}, f"id: {ID_RULE}"),
        ({"--id": ""}, f"id: {ID_RULE}"),
        ({"--merchant": "m/1"}, f"merchant: {ID_RULE}"),
        ({"--provider": "mpesa"}, "provider: unknown provider 'mpesa'; known: hub, momo"),
        ({"--provider": "Hub Two"}, "provider: unknown provider 'Hub Two'; known: hub, momo"),
        ({"--description": "x" * 141}, "description: string should have at most 140 characters"),
        (
            {"--amount": "1e3", "--id": "a b", "--provider": "mpesa"},
            "amount: '1e3' has an exponent; write the digits out, e.g. '1000'; provider:"
            f" unknown provider 'mpesa'; known: hub, momo; id: {ID_RULE}",
        ),
        (
            {"--currency": "XXX", "--merchant": "m 1", "--phone": "+256772123456"},
            f"currency: 'XXX' is not a currency the engine pays in ({SERVED}); merchant: {ID_RULE}",
        ),
        (
            {"--amount": "12.345", "--phone": "+256772123456"},
            "amount: KES has 2 decimal places; '12.345' has more; phone: belongs to UG, not KE",
        ),
    ],
    ids=[
        "amount-zero",
        "amount-zero-decimals",
        "phone-other-country",
        "phone-of-another-country-given",
        "phone-invalid",
        "phone-garbage",
        "phone-landline",
        "country-too-long",
        "id-with-space",
        "id-too-long",
        "id-empty",
        "bad-merchant",
        "unknown-provider",
        "bad-provider-name",
        "description-too-long",
        "three-mistakes",
        "currency-and-merchant",
        "amount-and-phone",
    ],
)
def test_payout_create_bad_input_exits_2_before_connecting(
    runner: CliRunner, overrides: dict[str, str], line: str
) -> None:
    _assert_refused(_create(runner, **overrides), line)


@pytest.mark.parametrize(("amount", "currency", "line"), AMOUNT_CASES)
def test_ledger_fund_refuses_the_bad_amounts(
    runner: CliRunner, amount: str, currency: str, line: str
) -> None:
    _assert_refused(_fund(runner, **{"--amount": amount, "--currency": currency}), line)


@pytest.mark.parametrize(("currency", "line"), CURRENCY_CASES)
def test_ledger_fund_refuses_the_bad_currencies(
    runner: CliRunner, currency: str, line: str
) -> None:
    _assert_refused(_fund(runner, **{"--currency": currency}), line)


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"--amount": "0"}, "amount: a funding amount must be greater than zero"),
        (
            {"--amount": "-10"},
            "amount: '-10' has a minus sign; amounts are greater than zero, written without a sign",
        ),
        ({"--reference": "bank ref"}, f"reference: {ID_RULE}"),
        ({"--merchant": "m/1"}, f"merchant: {ID_RULE}"),
        (
            {"--amount": "100.001", "--reference": "bank ref"},
            f"amount: KES has 2 decimal places; '100.001' has more; reference: {ID_RULE}",
        ),
    ],
)
def test_ledger_fund_bad_input_exits_2_before_connecting(
    runner: CliRunner, overrides: dict[str, str], line: str
) -> None:
    _assert_refused(_fund(runner, **overrides), line)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["po-1", "--outcome", "submitted", "--note", "checked"],
            "outcome: an operator resolves a payout to succeeded or failed",
        ),
        (
            ["po-1", "--outcome", "done", "--note", "checked"],
            "outcome: an operator resolves a payout to succeeded or failed",
        ),
        (
            ["po-1", "--outcome", "failed", "--note", ""],
            "note: string should have at least 1 character",
        ),
        (["a b", "--outcome", "failed", "--note", "checked"], f"id: {ID_RULE}"),
        (
            ["a/b", "--outcome", "needs_review", "--note", ""],
            f"id: {ID_RULE}; outcome: an operator resolves a payout to succeeded or failed;"
            " note: string should have at least 1 character",
        ),
    ],
    ids=["not-final", "not-a-status", "no-note", "bad-id", "three-mistakes"],
)
def test_payout_resolve_bad_input_exits_2_before_connecting(
    runner: CliRunner, args: list[str], line: str
) -> None:
    _assert_refused(runner.invoke(app, ["payout", "resolve", *args]), line)


def test_payout_status_of_a_bad_id_exits_2_before_connecting(runner: CliRunner) -> None:
    _assert_refused(runner.invoke(app, ["payout", "status", "a/b"]), f"id: {ID_RULE}")


def test_good_input_with_temporal_unreachable_says_so(runner: CliRunner) -> None:
    result = _create(runner)
    assert result.exit_code not in (0, 2), result.output
    assert isinstance(result.exception, SystemExit)
    message = _flat(result.stderr)
    assert "cannot reach Temporal" in message
    assert UNREACHABLE in message
    assert "Traceback" not in result.output


class _FakeClient:
    """Stands in for PaymentsClient: records what the CLI sends, answers like the engine."""

    def __init__(self) -> None:
        self.requests: list[PayoutRequest] = []
        self.fundings: list[FundMerchantInput] = []

    async def create_payout(self, request: PayoutRequest) -> Any:
        self.requests.append(request)
        return type("Created", (), {"payout_id": request.payout_id, "workflow_id": "w"})

    async def get_payout(self, payout_id: str) -> PayoutView:
        return PayoutView.initial(self.requests[-1], datetime(2026, 1, 1, tzinfo=UTC))

    async def resolve_payout(self, payout_id: str, decision: ResolvePayout) -> PayoutView:
        # What the client raises when the workflow's update validator refuses: Temporal
        # put the type of the workflow's error before its message.
        raise PayoutNotResolvable(
            "ValidationFailed: only a payout in needs_review can be resolved; this one is submitted"
        )

    async def fund_merchant(self, funding: FundMerchantInput) -> Any:
        self.fundings.append(funding)
        return type("Entry", (), {"created": True})

    async def balances(self, merchant_id: str | None = None) -> list[Any]:
        return []


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> _FakeClient:
    client = _FakeClient()

    @asynccontextmanager
    async def open_fake(settings: Any, with_ledger: bool = False) -> AsyncIterator[_FakeClient]:
        yield client

    monkeypatch.setattr(cli, "open_client", open_fake)
    return client


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1500", "KES", Money(amount=150000, currency="KES")),
        ("1500.0", "KES", Money(amount=150000, currency="KES")),
        ("1500.00", "KES", Money(amount=150000, currency="KES")),
        ("0.01", "KES", Money(amount=1, currency="KES")),
        ("1500", "kes", Money(amount=150000, currency="KES")),
        ("20", "usd", Money(amount=2000, currency="USD")),
        ("1500", "UGX", Money(amount=1500, currency="UGX")),
    ],
)
def test_good_amounts_and_currencies_are_accepted_and_normalised(
    runner: CliRunner, fake: _FakeClient, amount: str, currency: str, expected: Money
) -> None:
    result = _create(runner, "--json", **{"--amount": amount, "--currency": currency})
    assert result.exit_code == 0, result.output
    assert [r.amount for r in fake.requests] == [expected]
    assert result.stderr == ""

    funded = _fund(runner, **{"--amount": amount, "--currency": currency})
    assert funded.exit_code == 0, funded.output
    assert [f.amount for f in fake.fundings] == [expected]


def test_a_refused_resolve_keeps_its_business_wording_without_nested_types(
    runner: CliRunner, fake: _FakeClient
) -> None:
    result = runner.invoke(
        app, ["payout", "resolve", "po-1", "--outcome", "failed", "--note", "checked"]
    )
    assert result.exit_code == 2, result.output
    assert _flat(result.stderr) == (
        "PayoutNotResolvable: only a payout in needs_review can be resolved; this one is submitted"
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("ValidationFailed: only in needs_review", "only in needs_review"),
        ("PayoutNotResolvable: ValidationFailed: x: y", "x: y"),
        ("payout 'po-1' is already final", "payout 'po-1' is already final"),
        ("Hub: down", "Hub: down"),
    ],
)
def test_without_type_prefixes_removes_only_error_type_names(message: str, reason: str) -> None:
    assert without_type_prefixes(message) == reason


def test_payout_recheck_of_a_bad_id_exits_2_before_connecting(runner: CliRunner) -> None:
    _assert_refused(runner.invoke(app, ["payout", "recheck", "a b"]), f"id: {ID_RULE}")
