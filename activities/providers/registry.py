"""Every provider the engine knows, by name: adding one is one line here.

The worker builds adapters from it, the relay takes each provider's signature scheme and
webhook translator from it, the client checks a request's provider against it, and
settings load each provider's ``PAYMENTS_<NAME>_*`` variables through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from payments_engine.activities.providers import bank, efecty, hub, issuer, momo, oxxo
from payments_engine.activities.providers.base import ProviderNotSupported, ProviderSpec

PROVIDERS: Mapping[str, ProviderSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (hub.SPEC, momo.SPEC, issuer.SPEC, bank.SPEC, efecty.SPEC, oxxo.SPEC)
    }
)


def provider_spec(name: str) -> ProviderSpec:
    """The provider called ``name``.

    Raises:
        ProviderNotSupported: no such provider; the message lists the known ones.
    """
    return _capable(name, None, "")


def _capable(name: str, capability: str | None, verb: str) -> ProviderSpec:
    """The provider ``name`` if it has ``capability`` (a ProviderSpec field; None: any).

    Raises:
        ProviderNotSupported: no such provider (the message lists those that have the
            capability), or it lacks the capability.
    """
    spec = PROVIDERS.get(name)
    if spec is None:
        known = ", ".join(
            sorted(n for n, s in PROVIDERS.items() if capability is None or getattr(s, capability))
        )
        raise ProviderNotSupported(f"unknown provider {name[:40]!r}; known: {known}")
    if capability is not None and getattr(spec, capability) is None:
        raise ProviderNotSupported(f"provider {name!r} does not {verb}")
    return spec


def payout_spec(name: str) -> ProviderSpec:
    """The provider called ``name``, if it pays out.

    Raises:
        ProviderNotSupported: no such provider, or it does not support payouts.
    """
    return _capable(name, "payouts", "support payouts")


def collection_spec(name: str) -> ProviderSpec:
    """The provider called ``name``, if it collects from payers.

    Raises:
        ProviderNotSupported: no such provider, or it does not support collections.
    """
    return _capable(name, "collections", "support collections")


def refund_spec(name: str) -> ProviderSpec:
    """The provider called ``name``, if it refunds collections.

    Raises:
        ProviderNotSupported: no such provider, or it does not support refunds.
    """
    return _capable(name, "refunds", "support refunds")


def card_spec(name: str) -> ProviderSpec:
    """The provider called ``name``, if it issues cards.

    Raises:
        ProviderNotSupported: no such provider, or it does not issue cards.
    """
    return _capable(name, "cards", "issue cards")


def voucher_spec(name: str) -> ProviderSpec:
    """The provider called ``name``, if it is a cash network issuing vouchers.

    Raises:
        ProviderNotSupported: no such provider, or it issues no cash vouchers.
    """
    return _capable(name, "vouchers", "issue cash vouchers")


def report_spec(name: str) -> ProviderSpec:
    """The provider called ``name``, if it publishes a daily settlement report.

    Raises:
        ProviderNotSupported: no such provider, or it publishes no settlement report.
    """
    return _capable(name, "settlement_report", "publish settlement reports")


def float_spec(name: str) -> ProviderSpec:
    """The provider called ``name``, if it states its float (prefunded balance).

    Raises:
        ProviderNotSupported: no such provider, or it states no float.
    """
    return _capable(name, "floats", "state its float")
