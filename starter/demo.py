"""``payments demo``: one payout per sandbox scenario, watched live until each settles."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from rich.console import Console
from rich.live import Live
from rich.table import Table

from payments_engine.domain.ledger import FundMerchantInput
from payments_engine.domain.money import Money
from payments_engine.domain.payout import (
    DEFAULT_MERCHANT_ID,
    PayoutRequest,
    PayoutStatus,
    PayoutView,
)
from payments_engine.runtime.settings import Settings
from payments_engine.sandbox.scenarios import Scenario
from payments_engine.starter.client import open_client
from payments_engine.starter.tables import plain_table, print_table

DEMO_CURRENCY = "KES"
DEMO_AMOUNT = Money(amount=1_500_00, currency=DEMO_CURRENCY)
DEMO_FUNDING = Money(amount=1_000_000_00, currency=DEMO_CURRENCY)
# Short enough that the never-resolving scenario reaches needs_review within the demo.
DEMO_DEADLINE_SECONDS = 60
DEMO_TIMEOUT_SECONDS = 150
SUCCESS_NUMBER = "+254712345678"


def scenario_msisdn(scenario: Scenario) -> str:
    """A Kenyan number that triggers ``scenario`` at the sandbox hub."""
    return f"+254700{scenario.suffix}" if scenario.suffix else SUCCESS_NUMBER


def _settled(view: PayoutView | None) -> bool:
    return view is not None and (view.status.is_final or view.status is PayoutStatus.NEEDS_REVIEW)


async def run_demo(settings: Settings, console: Console) -> None:
    """Fund the default merchant, start one payout per scenario and show them settle."""
    run = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    scenarios = list(Scenario)
    async with open_client(settings, with_ledger=True) as client:
        await client.fund_merchant(
            FundMerchantInput(
                merchant_id=DEFAULT_MERCHANT_ID, amount=DEMO_FUNDING, reference=f"demo-{run}"
            )
        )
        console.print(f"funded merchant [bold]{DEFAULT_MERCHANT_ID}[/] with {DEMO_FUNDING}")
        ids: dict[Scenario, str] = {}
        for scenario in scenarios:
            request = PayoutRequest(
                payout_id=f"demo-{run}-{scenario.value.replace('_', '-')}",
                amount=DEMO_AMOUNT,
                recipient_msisdn=scenario_msisdn(scenario),
                country="KE",
                description=f"demo: {scenario.value}",
                resolution_deadline_seconds=DEMO_DEADLINE_SECONDS,
            )
            ids[scenario] = (await client.create_payout(request)).payout_id

        views: dict[Scenario, PayoutView | None] = dict.fromkeys(scenarios)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEMO_TIMEOUT_SECONDS

        async def refresh() -> None:
            for scenario in scenarios:
                views[scenario] = await client.get_payout(ids[scenario])

        if console.is_terminal:
            with Live(_table(views, ids), console=console, refresh_per_second=4) as live:
                while not all(_settled(v) for v in views.values()) and loop.time() < deadline:
                    await refresh()
                    live.update(_table(views, ids))
                    await asyncio.sleep(1.0)
        else:
            # Into a pipe or a file: the final table once, whole.
            while not all(_settled(v) for v in views.values()) and loop.time() < deadline:
                await refresh()
                await asyncio.sleep(1.0)
            print_table(console, _table(views, ids))
        balances = await client.balances(DEFAULT_MERCHANT_ID)
    console.print("\nIn the Web UI:")
    for scenario, payout_id in ids.items():
        url = f"{settings.temporal_ui_url()}/workflows/payout-{payout_id}"
        console.print(f"  {scenario.value:<22} {url}", overflow="ignore", crop=False)
    console.print()
    for b in balances:
        console.print(f"{b.account:<32} {Money(amount=b.balance, currency=b.currency)}")
    console.print(
        "Filter in the Web UI, e.g. "
        '[bold]PaymentStatus="needs_review" AND Country="KE"[/]; '
        "resolve with `payments payout resolve ID --outcome failed --note ...`"
    )


def _table(views: dict[Scenario, PayoutView | None], ids: dict[Scenario, str]) -> Table:
    # Links are printed in full below the table: cut to the terminal's width they break.
    table = plain_table("scenario", "status", "provider status", "failure", "payout id")
    for scenario, view in views.items():
        status = view.status.value if view else "starting"
        colour = {"succeeded": "green", "failed": "red", "needs_review": "yellow"}.get(status, "")
        table.add_row(
            scenario.value,
            f"[{colour}]{status}[/]" if colour else status,
            (view.provider_status or "") if view else "",
            (view.failure_code or "") if view else "",
            ids[scenario],
        )
    return table
