"""The README's sample batch file is a valid batch file, with the totals it implies."""

from __future__ import annotations

import re
from pathlib import Path

from payments_engine.domain.batch import BATCH_COLUMNS
from payments_engine.starter.batch_file import read_batch_file

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_sample_file_reads_without_a_problem() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Batch payouts") :]
    sample = re.search(r"```\n(reference,.*?)```", section, re.S)
    assert sample is not None
    parsed = read_batch_file(sample.group(1).encode())
    assert parsed.problems == []
    assert sample.group(1).splitlines()[0] == ",".join(BATCH_COLUMNS)
    assert [(t.currency, t.lines, t.amount) for t in parsed.totals] == [
        ("KES", 2, 2_320_50),
        ("UGX", 1, 250_000),
    ]
    assert {line.provider for line in parsed.lines} == {"hub"}
