"""Every provider the engine knows, by name: adding one is one line here.

The worker builds adapters from it, the relay takes each provider's signature scheme and
webhook translator from it, the client checks a request's provider against it, and
settings load each provider's ``PAYMENTS_<NAME>_*`` variables through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from payments_engine.activities.providers import hub, momo
from payments_engine.activities.providers.base import ProviderNotSupported, ProviderSpec

PROVIDERS: Mapping[str, ProviderSpec] = MappingProxyType(
    {spec.name: spec for spec in (hub.SPEC, momo.SPEC)}
)


def provider_spec(name: str) -> ProviderSpec:
    """The provider called ``name``.

    Raises:
        ProviderNotSupported: no such provider; the message lists the known ones.
    """
    spec = PROVIDERS.get(name)
    if spec is None:
        known = ", ".join(sorted(PROVIDERS))
        raise ProviderNotSupported(f"unknown provider {name[:40]!r}; known: {known}")
    return spec


def payout_spec(name: str) -> ProviderSpec:
    """The provider called ``name``, if it pays out.

    Raises:
        ProviderNotSupported: no such provider, or it does not support payouts.
    """
    spec = provider_spec(name)
    if spec.payouts is None:
        raise ProviderNotSupported(f"provider {name!r} does not support payouts")
    return spec


def collection_spec(name: str) -> ProviderSpec:
    """The provider called ``name``, if it collects from payers.

    Raises:
        ProviderNotSupported: no such provider, or it does not support collections.
    """
    spec = provider_spec(name)
    if spec.collections is None:
        raise ProviderNotSupported(f"provider {name!r} does not support collections")
    return spec


def refund_spec(name: str) -> ProviderSpec:
    """The provider called ``name``, if it refunds collections.

    Raises:
        ProviderNotSupported: no such provider, or it does not support refunds.
    """
    spec = provider_spec(name)
    if spec.refunds is None:
        raise ProviderNotSupported(f"provider {name!r} does not support refunds")
    return spec
