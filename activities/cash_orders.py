"""Cash order activities: issue a voucher once, ask where it stands, cancel it, the
network's settlement calendar, and the merchant's stock hooks.

The exactly-once protocol (:mod:`payments_engine.activities.protocol`) applies as for
payouts: our reference (the order's workflow id) is the network's idempotency key, so a
retried create never issues a second voucher. The request's ``provider`` picks the
network's adapter.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from payments_engine.activities.hooks import call_hook
from payments_engine.activities.protocol import (
    ask_status,
    not_configured,
    submit_once,
    to_application_error,
)
from payments_engine.activities.providers.base import (
    CashVoucherProvider,
    ProviderFault,
    Refused,
)
from payments_engine.activities.providers.registry import voucher_spec
from payments_engine.domain.cash import (
    CancelVoucherResult,
    CreateVoucherInput,
    CreateVoucherResult,
    SettlementTimeInput,
    SettlementTimeResult,
    StockAction,
    StockHookInput,
    payer_instructions,
    settlement_time,
)
from payments_engine.domain.errors import ProviderConflict
from payments_engine.domain.events import ProviderEvent
from payments_engine.domain.payout import TransferStatusInput, TransferStatusResult

HOOK_PATHS = {StockAction.HOLD: "/v1/stock/holds", StockAction.RELEASE: "/v1/stock/releases"}


class CashOrderActivities:
    """Cash order activities, dispatching on the order's network.

    Args:
        adapters: provider name -> cash-voucher adapter, on the clients the worker built.
        hooks: the merchant's hooks client (its base URL and credentials set by the
            worker); None when no hooks are configured, and the stock steps are skipped.
    """

    def __init__(
        self,
        adapters: Mapping[str, CashVoucherProvider],
        hooks: httpx.AsyncClient | None = None,
    ) -> None:
        """Keep the adapters and the hooks client."""
        self._adapters = adapters
        self._hooks = hooks

    def _adapter(self, provider: str) -> CashVoucherProvider:
        adapter = self._adapters.get(provider)
        if adapter is None:
            raise not_configured(provider)
        return adapter

    @activity.defn
    async def create_voucher(self, inp: CreateVoucherInput) -> CreateVoucherResult:
        """Issue the voucher once, resolving ambiguous outcomes by a status query."""
        adapter = self._adapter(inp.provider)
        voucher, by_query = await submit_once(
            lambda: adapter.create_voucher(inp),
            lambda: adapter.find_voucher(inp.reference),
            reference=inp.reference,
            provider=inp.provider,
        )
        rules = voucher_spec(inp.provider).voucher_rules
        instructions = None
        if rules is not None:
            instructions = payer_instructions(
                rules.network,
                voucher.voucher_reference,
                voucher.barcode,
                inp.amount,
                voucher.expires_at,
                rules.timezone,
                rules.country,
            )
        return CreateVoucherResult(
            voucher=voucher, instructions=instructions, resolved_by_status_query=by_query
        )

    @activity.defn
    async def get_voucher_status(self, inp: TransferStatusInput) -> TransferStatusResult:
        """Ask the network where the voucher with our reference stands."""
        adapter = self._adapter(inp.provider)

        async def find() -> ProviderEvent | None:
            voucher = await adapter.find_voucher(inp.reference)
            return None if voucher is None else voucher.report

        report = await ask_status(find)
        return TransferStatusResult(report=report)

    @activity.defn
    async def cancel_voucher(self, inp: TransferStatusInput) -> CancelVoucherResult:
        """Stop the network taking payments; a network that cannot (paid) says so."""
        adapter = self._adapter(inp.provider)
        try:
            return CancelVoucherResult(report=await adapter.cancel_voucher(inp.reference))
        except Refused as fault:
            if fault.error is not ProviderConflict:
                raise to_application_error(fault) from None
            activity.logger.info("cancel of %s refused by %s: paid", inp.reference, inp.provider)
            return CancelVoucherResult(refused=True)
        except ProviderFault as fault:
            raise to_application_error(fault) from None

    @activity.defn
    async def settlement_time(self, inp: SettlementTimeInput) -> SettlementTimeResult:
        """When the network settles a payment: its business days after, in its calendar.

        An activity, not workflow code: the holiday calendars are data that changes
        between package versions; the history keeps the answer it gave.
        """
        rules = voucher_spec(inp.provider).voucher_rules
        if rules is None:
            raise ApplicationError(
                f"provider {inp.provider!r} states no voucher rules", non_retryable=True
            )
        return SettlementTimeResult(
            settle_at=settlement_time(inp.paid_at, inp.business_days, rules.country, rules.timezone)
        )

    @activity.defn
    async def notify_stock(self, inp: StockHookInput) -> bool:
        """Tell the merchant's stock hook to hold or release the order's goods, once.

        Returns:
            False when no hook is configured (nothing was called).

        Raises:
            ApplicationError: retryable while the hook is unreachable or answers 5xx;
                final when it refuses (4xx).
        """
        if self._hooks is None:
            return False
        # A hold says until when; a release says why.
        body = inp.model_dump(
            mode="json", exclude={"action", "reason" if inp.action is StockAction.HOLD else "until"}
        )
        await call_hook(
            self._hooks, HOOK_PATHS[inp.action], body, inp.idempotency_key, "merchant stock hook"
        )
        return True
