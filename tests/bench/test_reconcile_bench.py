"""The reconciliation bench still runs: a tiny report, every injected fault found."""

from __future__ import annotations

import pytest

from bench.reconcile import main


def test_the_bench_finds_exactly_its_injected_faults(capsys: pytest.CaptureFixture[str]) -> None:
    # main() returns 1 when the findings differ from the injected faults by kind.
    assert main(["--lines", "600", "--runs", "1", "--database", "sqlite", "--faults", "0.02"]) == 0
    printed = capsys.readouterr().out
    assert "end to end" in printed and "baseline" in printed
