"""``payments cash-order``: the networks' rules and bank details refused before Temporal.

Temporal's address points at a closed port, so a command that tried to connect before
validating would exit 1 instead of 2. The payer's name and document never appear in the
output.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner, Result

from payments_engine.starter.cli import app
from tests.starter.test_cli_input import UNREACHABLE, _flat

CREATE = {
    "--id": "ord-1",
    "--amount": "150000",
    "--currency": "COP",
    "--country": "CO",
    "--payer-name": "Mariana Quintero",
    "--document-type": "CC",
    "--document-number": "52871234",
}
REFUND = {
    "--id": "rf-1",
    "--amount": "50000",
    "--currency": "COP",
    "--reason": "returned goods",
}
BANK = {
    "--bank-code": "007",
    "--account-type": "savings",
    "--account-number": "1234567890",
    "--document-type": "CC",
    "--document-number": "52871234",
    "--holder-name": "Mariana Quintero",
}
PERSONAL = ("Mariana", "Quintero", "52871234", "1234567890")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"PAYMENTS_TEMPORAL_ADDRESS": UNREACHABLE})


def _invoke(runner: CliRunner, command: list[str], options: dict[str, str]) -> Result:
    args = list(command)
    for name, value in options.items():
        args += [name, value]
    return runner.invoke(app, args)


def _refused(result: Result, *reasons: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    stderr = _flat(result.stderr)
    assert stderr.startswith("invalid input: ")
    for reason in reasons:
        assert _flat(reason) in stderr, stderr
    assert "Traceback" not in result.output and "Temporal" not in result.output
    assert not any(value in result.output for value in PERSONAL)


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"--amount": "150000.50"}, "amount: Efecty takes whole COP only: no centavos"),
        ({"--amount": "19999"}, "amount: Efecty vouchers are from 20,000 to 6,000,000 COP"),
        ({"--amount": "6000001"}, "to 6,000,000 COP, not 6,000,001"),
        ({"--expires-in-days": "8"}, "Efecty vouchers expire in 1 to 7 days, not 8"),
        ({"--currency": "MXN", "--amount": "100"}, "amount: Efecty takes COP only, not MXN"),
        ({"--country": "MX"}, "Efecty serves CO only, not MX"),
        ({"--country": "KE"}, "cash orders are served in CO, MX, not KE"),
        ({"--provider": "hub"}, "provider: provider 'hub' does not issue cash vouchers"),
        ({"--provider": "cash"}, "provider: unknown provider 'cash'; known: efecty, oxxo"),
        ({"--document-type": "RFC"}, "document-number: not a valid RFC number (12-13 letters"),
        ({"--document-number": "12AB"}, "document-number: not a valid CC number (5-10 digits)"),
    ],
)
def test_create_refuses_what_the_network_would_refuse(
    runner: CliRunner, over: dict[str, str], reason: str
) -> None:
    _refused(_invoke(runner, ["cash-order", "create"], {**CREATE, **over}), reason)


def test_oxxo_takes_centavos_within_its_own_limits(runner: CliRunner) -> None:
    oxxo = {
        **CREATE,
        "--provider": "oxxo",
        "--currency": "MXN",
        "--country": "MX",
        "--document-type": "CURP",
        "--document-number": "QUMA800101MDFNRR09",
    }
    _refused(
        _invoke(runner, ["cash-order", "create"], {**oxxo, "--amount": "10000.01"}),
        "amount: OXXO vouchers are from 10.00 to 10,000.00 MXN, not 10,000.01",
    )
    # A good order gets past validation: only Temporal, out of reach here, stops it.
    reached = _invoke(runner, ["cash-order", "create"], {**oxxo, "--amount": "1234.50"})
    assert reached.exit_code == 1, reached.output
    assert "cannot reach Temporal" in reached.output


def test_a_refund_without_the_bank_account_says_cash_is_refunded_by_transfer(
    runner: CliRunner,
) -> None:
    _refused(
        _invoke(runner, ["cash-order", "refund", "ord-1"], REFUND),
        "cash orders are refunded by bank transfer, never in cash",
        "account_number",
        "holder_name",
    )


def test_an_incomplete_bank_account_names_every_missing_field(runner: CliRunner) -> None:
    partial = {"--bank-code": "007", "--account-number": "12"}
    _refused(
        _invoke(runner, ["cash-order", "refund", "ord-1"], {**REFUND, **partial}),
        "account-type: field required",
        "account-number: a bank account number is 6-20 digits",
        "document-type: field required",
        "holder-name: field required",
    )


def test_a_wrong_document_for_the_accounts_country_is_refused(runner: CliRunner) -> None:
    wrong = {**BANK, "--document-type": "CURP"}
    _refused(
        _invoke(runner, ["cash-order", "refund", "ord-1"], {**REFUND, **wrong}),
        "a CURP document is not accepted in CO",
    )
