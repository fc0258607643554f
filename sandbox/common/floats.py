"""A simulated provider's float: the money it can pay out, per currency, in minor units."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from payments_engine.sandbox.common.persistence import Document, Journal

KIND = "float"


class Floats:
    """The float per currency; every change is noted in the store's journal.

    A currency with no document in the state file still has its configured float.

    Args:
        configured: the float per currency at start and after a reset.
        journal: where changes are noted for the state file.
    """

    def __init__(self, configured: Mapping[str, int], journal: Journal) -> None:
        """Start from the configured floats."""
        self._configured = dict(configured)
        self._journal = journal
        self._amounts = dict(configured)

    def debit(self, currency: str, amount: int) -> bool:
        """Take ``amount`` out of the float if it covers it; False (and nothing) if not."""
        available = self._amounts.get(currency, 0)
        if available < amount:
            return False
        self._set(currency, available - amount)
        return True

    def credit(self, currency: str, amount: int) -> None:
        """Give ``amount`` back to the float."""
        self._set(currency, self._amounts.get(currency, 0) + amount)

    def set(self, currency: str, amount: int) -> None:
        """Make the float in ``currency`` exactly ``amount``, written through at once.

        An operator's change (the admin API), made outside any store method: it is
        flushed to the state file here. A reset restores the configured float.
        """
        self._set(currency, amount)
        self._journal.flush()

    def balances(self) -> dict[str, int]:
        """The float per currency, sorted by currency."""
        return dict(sorted(self._amounts.items()))

    def reset(self) -> None:
        """Back to the configured floats."""
        self._amounts = dict(self._configured)

    def restore(self, documents: Iterable[tuple[str, Document]]) -> None:
        """Apply the floats kept in a state file."""
        for currency, document in documents:
            self._amounts[currency] = int(document["amount"])

    def _set(self, currency: str, amount: int) -> None:
        self._amounts[currency] = amount
        self._journal.put(KIND, currency, lambda: {"amount": self._amounts[currency]})
