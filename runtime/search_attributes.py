"""Register the engine's custom search attributes on a Temporal namespace if missing.

The embedded dev server registers them from the command line; on a self-hosted cluster
the worker does it at start-up. (Temporal Cloud manages them in its console instead.)
"""

from __future__ import annotations

import logging

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from payments_engine.domain.search_attributes import ALL_KEYS

log = logging.getLogger("payments.worker")


async def ensure_search_attributes(client: Client) -> list[str]:
    """Add whichever of the engine's search attributes the namespace lacks; return them."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in ALL_KEYS
        if key.name not in listed.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)


async def register_search_attributes(client: Client) -> None:
    """Ensure the search attributes exist, warning instead of failing where the API is closed."""
    try:
        added = await ensure_search_attributes(client)
    except RPCError as exc:
        # Temporal Cloud manages search attributes in its console, not through this API.
        log.warning("could not check search attributes (%s); register them by hand", exc)
        return
    if added:
        log.info("registered search attributes %s", ", ".join(added))
