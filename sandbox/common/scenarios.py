"""Magic numbers: the last six digits of a phone number choose what a simulator does.

Like a card network's test card numbers, they work with any country code. Each simulator
lists its scenarios as a :class:`MagicScenario` and gives each one a :class:`MagicNumber`;
the lookup by number and the generated Markdown table are the same for every simulator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, Self, TypeVar

StatusT = TypeVar("StatusT")

_NON_DIGITS = re.compile(r"\D")
_DIGITS = 6


@dataclass(frozen=True)
class MagicNumber(Generic[StatusT]):
    """What one scenario is: the number's ending, the status it ends in and a summary.

    Attributes:
        suffix: the last six digits that select the scenario; None for the default one,
            which every other number runs.
        final_status: the status the transfer ends in; None if it never resolves.
        summary: one line on what the simulator does, for generated documentation.
    """

    suffix: str | None
    final_status: StatusT | None
    summary: str


class MagicScenario(StrEnum):
    """A simulator's scenarios; a subclass lists them and answers :meth:`magic`."""

    def magic(self) -> MagicNumber[Any]:
        """The scenario's magic number, final status and summary."""
        raise NotImplementedError

    @property
    def suffix(self) -> str | None:
        """The number's ending that selects the scenario; None for the default one."""
        return self.magic().suffix

    @property
    def summary(self) -> str:
        """One line on what the simulator does, for generated documentation."""
        return self.magic().summary

    @classmethod
    def for_number(cls, number: str) -> Self:
        """The scenario a transfer to ``number`` runs, by its last six digits."""
        by_suffix = {scenario.suffix: scenario for scenario in cls}
        digits = _NON_DIGITS.sub("", number)
        return by_suffix.get(digits[-_DIGITS:], by_suffix[None])

    @classmethod
    def markdown_table(cls) -> str:
        """The scenarios as a Markdown table, for the README and the sandbox's API docs."""
        lines = ["| Last digits | Scenario | Behaviour |", "|---|---|---|"]
        # The catch-all default comes last, as in the scenario docstrings.
        for scenario in sorted(cls, key=lambda item: item.suffix or "9" * _DIGITS):
            suffix = f"`{scenario.suffix}`" if scenario.suffix else "other"
            lines.append(f"| {suffix} | {scenario.value} | {scenario.summary} |")
        return "\n".join(lines)
