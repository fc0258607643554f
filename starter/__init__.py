"""Client code: the typed :class:`starter.client.PaymentsClient` and the ``payments`` CLI."""
