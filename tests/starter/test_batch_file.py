"""read_batch_file: the valid lines, every problem (without personal data), totals, speed."""

from __future__ import annotations

import hashlib
import time

import pytest

from payments_engine.domain.batch import MAX_LINES, MAX_REFERENCE_LENGTH, CurrencyTotal
from payments_engine.domain.money import Money
from payments_engine.starter import batch_file
from payments_engine.starter.batch_file import BatchFile, read_batch_file

HEADER = "reference,amount,currency,msisdn,country,name,narration,provider"
KE = "+254712345678"
UG = "+256772123456"
NAME = "Wanjiru Kamau"
# Every number's digits (as typed in any form): none may appear in a reason.
NUMBER_DIGITS = ("712345678", "772123456", "202222222", "799999")


def _file(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join((header, *lines)) + "\n").encode()


def _line(
    reference: str = "r1",
    amount: str = "1500.00",
    currency: str = "KES",
    msisdn: str = "0712345678",
    country: str = "KE",
    name: str = NAME,
    narration: str = "salary",
    provider: str = "",
) -> str:
    return ",".join((reference, amount, currency, msisdn, country, name, narration, provider))


def _only_problem(data: bytes) -> tuple[int, str]:
    result = read_batch_file(data)
    assert result.lines == []
    assert len(result.problems) == 1, result.problems
    return result.problems[0].line_no, result.problems[0].reason


def _reason(**cells: str) -> str:
    line_no, reason = _only_problem(_file(_line(**cells)))
    assert line_no == 2
    return reason


# --- a good file ---------------------------------------------------------------------


def test_good_file_lines_totals_and_normalisation() -> None:
    data = _file(
        _line("r1", "1500.00", "KES", "0712345678"),
        _line("r2", "0.5", "kes", "+254 712 345 678", name="", narration=""),
        _line("r3", "2000", "UGX", "0772123456", "ug", provider="momo"),
    )
    result = read_batch_file(data)
    assert isinstance(result, BatchFile)
    assert result.problems == []
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    first, second, third = result.lines
    assert (first.line_no, first.reference, first.msisdn, first.country) == (2, "r1", KE, "KE")
    assert first.amount == Money(amount=150_000, currency="KES")
    assert (first.name, first.narration, first.provider) == (NAME, "salary", "hub")
    assert (second.amount, second.msisdn) == (Money(amount=50, currency="KES"), KE)
    assert (second.name, second.narration) == (None, None)
    assert (third.msisdn, third.country, third.provider) == (UG, "UG", "momo")
    assert result.totals == [
        CurrencyTotal(currency="KES", lines=2, amount=150_050),
        CurrencyTotal(currency="UGX", lines=1, amount=2000),
    ]


def test_default_provider_without_provider_column() -> None:
    header = "reference,amount,currency,msisdn,country,name,narration"
    data = _file("r1,10,KES,0712345678,KE,,", header=header)
    assert [line.provider for line in read_batch_file(data).lines] == ["hub"]
    assert [line.provider for line in read_batch_file(data, default_provider="momo").lines] == [
        "momo"
    ]


def test_default_provider_must_pay_out() -> None:
    header = "reference,amount,currency,msisdn,country,name,narration"
    data = _file("r1,10,KES,0712345678,KE,,", header=header)
    result = read_batch_file(data, default_provider="efecty")
    assert [(p.line_no, p.reason) for p in result.problems] == [
        (2, "provider: provider 'efecty' does not support payouts")
    ]


def test_bom_header_order_case_and_spaces() -> None:
    header = " NARRATION ,Provider,Name,COUNTRY, msisdn,Currency,Amount,Reference"
    data = "\ufeff".encode() + _file("pay,momo,,ke,0712345678,KES,1.00,r1", header=header)
    result = read_batch_file(data)
    assert result.problems == []
    (line,) = result.lines
    assert (line.reference, line.amount, line.msisdn, line.provider, line.narration) == (
        "r1",
        Money(amount=100, currency="KES"),
        KE,
        "momo",
        "pay",
    )
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_blank_lines_skipped_and_line_numbers_kept() -> None:
    data = _file("", _line("r1"), "", ",,,,,,,", _line("r2", amount="1.001"))
    result = read_batch_file(data)
    assert [line.line_no for line in result.lines] == [3]
    assert [p.line_no for p in result.problems] == [6]


def test_quoted_cell_over_two_lines_keeps_line_numbers() -> None:
    data = _file(_line("r1", narration='"two\nlines"'), _line("r2", amount="0"))
    result = read_batch_file(data)
    assert [(line.line_no, line.narration) for line in result.lines] == [(2, "two\nlines")]
    assert [p.line_no for p in result.problems] == [4]


# --- each reason of a bad line -------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ({"amount": "10.005"}, "amount: KES has 2 decimal places; '10.005' has more"),
        ({"amount": "1.5", "currency": "UGX"}, "amount: UGX has 0 decimal places; '1.5' has more"),
        ({"amount": "0"}, "amount: a payout amount must be greater than zero"),
        ({"amount": "0.00"}, "amount: a payout amount must be greater than zero"),
        ({"amount": "-5"}, "amount: '-5' has a minus sign; amounts are greater than zero"),
        ({"amount": ""}, "amount: no amount given"),
        ({"currency": "XYZ"}, "currency: 'XYZ' is not a currency the engine pays in"),
        ({"msisdn": "12"}, "msisdn: not a valid number for KE"),
        ({"msisdn": "+256772123456", "country": "KE"}, "msisdn: belongs to UG, not KE"),
        ({"msisdn": "0202222222"}, "msisdn: not a mobile number for KE"),
        ({"msisdn": ""}, "msisdn: cannot be parsed for KE"),
        ({"country": "K"}, "country: string should have at least 2 characters"),
        ({"reference": "r 1"}, "reference: ids are 1-64 characters of letters"),
        ({"reference": ""}, "reference: ids are 1-64 characters of letters"),
        (
            {"reference": "r" * (MAX_REFERENCE_LENGTH + 1)},
            f"reference: string should have at most {MAX_REFERENCE_LENGTH} characters",
        ),
        ({"name": "n" * 101}, "name: string should have at most 100 characters"),
        ({"narration": "x" * 141}, "narration: string should have at most 140 characters"),
        ({"provider": "mpesa"}, "provider: unknown provider 'mpesa'; known: hub, momo"),
        ({"provider": "efecty"}, "provider: provider 'efecty' does not support payouts"),
    ],
)
def test_bad_line_reason(cells: dict[str, str], expected: str) -> None:
    assert _reason(**cells).startswith(expected)


def test_longest_reference_name_and_narration_accepted() -> None:
    data = _file(_line("r" * MAX_REFERENCE_LENGTH, name="n" * 100, narration="x" * 140))
    assert read_batch_file(data).problems == []


def test_wrong_cell_count() -> None:
    data = _file("r1,1,KES,0712345678,KE", _line("r2") + ",extra", _line("r3"))
    result = read_batch_file(data)
    assert [line.reference for line in result.lines] == ["r3"]
    assert [(p.line_no, p.reason) for p in result.problems] == [
        (2, "the line has 5 cells; the header has 8"),
        (3, "the line has 9 cells; the header has 8"),
    ]


def test_every_problem_of_a_line_together_in_column_order() -> None:
    reason = _reason(
        reference="bad ref",
        amount="10.005",
        msisdn="12",
        narration="x" * 141,
        provider="efecty",
    )
    assert reason == (
        "reference: ids are 1-64 characters of letters, digits, '_', '.', ':' or '-',"
        " starting with a letter or digit; amount: KES has 2 decimal places; '10.005' has"
        " more; msisdn: not a valid number for KE; narration: string should have at most"
        " 140 characters; provider: provider 'efecty' does not support payouts"
    )


def test_unknown_currency_reports_the_number_too_but_not_a_missing_amount() -> None:
    reason = _reason(currency="XYZ", msisdn="12")
    assert reason.startswith("currency: 'XYZ' is not a currency")
    assert reason.endswith("; msisdn: not a valid number for KE")
    assert "amount" not in reason


# --- duplicates ----------------------------------------------------------------------


def test_duplicate_references_name_the_first_line() -> None:
    data = _file(_line("r1"), _line("r2"), _line("r1"), _line("r2", amount="1.001"), _line("r1"))
    result = read_batch_file(data)
    assert [line.line_no for line in result.lines] == [2, 3]
    assert [(p.line_no, p.reason) for p in result.problems] == [
        (4, "reference 'r1' repeats line 2"),
        (5, "amount: KES has 2 decimal places; '1.001' has more; reference 'r2' repeats line 3"),
        (6, "reference 'r1' repeats line 2"),
    ]
    assert result.totals == [CurrencyTotal(currency="KES", lines=2, amount=300_000)]


def test_a_bad_first_line_still_owns_its_reference() -> None:
    result = read_batch_file(_file(_line("r1", amount="0"), _line("r1")))
    assert [(p.line_no, p.reason.split("; ")[-1]) for p in result.problems] == [
        (2, "amount: a payout amount must be greater than zero"),
        (3, "reference 'r1' repeats line 2"),
    ]


# --- the whole file ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "the file has no payout lines"),
        (b"\xef\xbb\xbf", "the file has no payout lines"),
        (b"\n\n  \n", "the file has no payout lines"),
        ((HEADER + "\n").encode(), "the file has no payout lines"),
        ((HEADER + "\n\n\n").encode(), "the file has no payout lines"),
        (HEADER.encode(), "the file has no payout lines"),
    ],
)
def test_empty_and_header_only(data: bytes, expected: str) -> None:
    assert _only_problem(data) == (1, expected)


def test_missing_columns_are_named() -> None:
    header = "reference,amount,msisdn,country,name"
    _, reason = _only_problem(_file("r1,1,0712345678,KE,x", header=header))
    assert reason == "missing columns currency, narration"
    header = "reference,amount,currency,msisdn,country,name,provider"
    assert _only_problem(_file("r1,1,KES,0712345678,KE,x,hub", header=header)) == (
        1,
        "missing column narration",
    )


def test_unknown_and_repeated_columns_are_named() -> None:
    _, reason = _only_problem(_file(_line() + ",x", header=HEADER + ",Narative"))
    assert reason.startswith("unknown column 'narative'; the columns are reference, amount")
    _, reason = _only_problem(_file(_line() + ",x", header=HEADER + ",amount"))
    assert reason == "column 'amount' appears twice"
    _, reason = _only_problem(_file(_line() + ",", header=HEADER + ","))
    assert reason == "column 9 of the header has no name"


def test_no_header_quotes_none_of_its_cells() -> None:
    line_no, reason = _only_problem(_file(_line("r2"), header=_line("r1")))
    assert line_no == 1
    assert reason.startswith("the first line is not a header")
    assert "712345678" not in reason and NAME not in reason


def test_semicolon_separated() -> None:
    _, reason = _only_problem(_file("r1;1;KES", header=HEADER.replace(",", ";")))
    assert reason == "the columns are separated by ';'; separate them by ','"


def test_not_utf8() -> None:
    data = _file(_line("r1", name="Jos\xe9")).replace("Jos\xe9".encode(), b"Jos\xe9")
    assert _only_problem(data) == (
        1,
        "the file is not UTF-8 text: line 2 has the byte 0xe9; save it as 'CSV UTF-8'",
    )


def test_too_many_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_file, "MAX_LINES", 3)
    assert MAX_LINES == 100_000
    data = _file(*(_line(f"r{i}") for i in range(4)))
    assert _only_problem(data) == (1, "the file has 4 payout lines; a batch has at most 3")
    assert read_batch_file(_file(*(_line(f"r{i}") for i in range(3)))).problems == []


# --- no personal data in any reason ----------------------------------------------------


def test_no_reason_contains_a_number_or_a_name() -> None:
    names = ("Wanjiru Kamau", "Okello Mugisha", "Amina")
    bad = [
        _line("r1", amount="10.005", msisdn="0712345678", name=names[0]),
        _line("r2", "1.5", "UGX", "0772123456", "UG", name=names[1]),
        _line("r3", msisdn="+256772123456", name=names[2], provider="efecty"),
        _line("r4", msisdn="0202222222", name=names[0], amount="0"),
        _line("r5", msisdn="712345678", country="UG", name=names[1], currency="XYZ"),
        _line("r6", msisdn="0712345678", name="n" * 101),
        _line("r7", currency="0712345678", msisdn="0712345678", name=names[2]),
        _line("r8", provider="0712345678", msisdn="0712345678", name=names[0]),
        _line("r9", provider=names[1], name=names[1], msisdn="0799999"),
        _line("r1", msisdn="0712345678", name=names[2]),
        _line("0712345678", msisdn="0712345678", name=names[2], amount="0"),
        _line("0712345678", msisdn="0712345678", name=names[2], amount="-1"),
        _line("r10", msisdn="bad number 0712345678", name=names[0], country="K"),
        _line("r11", msisdn="0712345678", name=names[0], narration="x" * 200, country="ZZ"),
    ]
    result = read_batch_file(_file(*bad))
    assert result.lines == []
    assert [p.line_no for p in result.problems] == list(range(2, 2 + len(bad)))
    for problem in result.problems:
        for secret in (*NUMBER_DIGITS, *names, "n" * 101):
            assert secret not in problem.reason, problem


# --- speed -----------------------------------------------------------------------------


def test_ten_thousand_lines_parse_fast() -> None:
    data = _file(
        *(
            _line(f"ref-{i}", f"{i + 1}.50", msisdn=f"07{i:08d}", name=f"N {i}", narration="x")
            for i in range(10_000)
        )
    )
    started = time.perf_counter()
    result = read_batch_file(data)
    elapsed = time.perf_counter() - started
    assert result.problems == []
    assert len(result.lines) == 10_000
    assert result.totals == [
        CurrencyTotal(
            currency="KES", lines=10_000, amount=sum(i * 100 + 150 for i in range(10_000))
        )
    ]
    assert elapsed < 5, f"10,000 lines took {elapsed:.2f} s"
