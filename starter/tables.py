"""How the CLI prints tables: plain columns, no box, nothing cut that identifies a row."""

from __future__ import annotations

from rich import box
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table

# Never shortened with an ellipsis: they identify a row or are read as a whole.
NO_WRAP = frozenset({"payout", "recipient", "account", "scenario", "started", "payout id"})


def plain_table(*headers: str) -> Table:
    """A table with a header line and space-separated columns, as the README shows them."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for header in headers:
        table.add_column(header, no_wrap=header in NO_WRAP, overflow="fold")
    return table


def print_table(console: Console, table: RenderableType) -> None:
    """Print ``table`` (or a group of them) whole: never folded into a pipe or a file.

    Output read by a program (or a test, or pasted in docs) must not depend on the
    80 columns rich assumes when there is no terminal.
    """
    if console.is_terminal:
        console.print(table)
        return
    # Measured against a wide page: the console's own 80 columns would cap the answer.
    natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
    # print(width=...) is capped at the console's width: widen the console itself.
    width = console.width
    console.width = max(natural, width)
    try:
        console.print(table)
    finally:
        console.width = width
