"""The ``payments`` command: run the engine, create and follow payouts, fund the ledger.

Every command reads settings from ``PAYMENTS_*`` environment variables (see README) and
prints a table, or JSON with ``--json``. Bad input exits with status 2 and a clear
message; nothing is started.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from payments_engine.activities.providers.registry import PROVIDERS
from payments_engine.db.migrate import upgrade
from payments_engine.domain.errors import PaymentsError
from payments_engine.domain.ledger import FundMerchantInput
from payments_engine.domain.money import Money
from payments_engine.domain.payout import (
    DEFAULT_MERCHANT_ID,
    DEFAULT_PROVIDER,
    PayoutRequest,
    PayoutStatus,
    PayoutView,
    ResolvePayout,
)
from payments_engine.runtime.settings import Settings, SettingsError, load_settings
from payments_engine.runtime.temporal import run
from payments_engine.starter.client import PaymentsClient, open_client

T = TypeVar("T")

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Durable payments engine on Temporal: run it, pay out, fund and read the ledger.",
)
payout_app = typer.Typer(no_args_is_help=True, help="Create, follow and list payouts.")
ledger_app = typer.Typer(no_args_is_help=True, help="Fund merchants and read balances.")
app.add_typer(payout_app, name="payout")
app.add_typer(ledger_app, name="ledger")

console = Console()
err_console = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
MerchantOption = Annotated[str, typer.Option("--merchant", help="Merchant id.")]


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


@app.callback()
def _load_settings(ctx: typer.Context) -> None:
    """Durable payments engine on Temporal."""
    try:
        ctx.obj = load_settings()
    except SettingsError as exc:
        err_console.print(f"[red]invalid settings:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None


def _errors_of(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine, turning business errors into a clear exit.

    :func:`runtime.temporal.run` rather than :func:`asyncio.run`: it shuts the Temporal
    runtime down before the process exits (a command that did its work must not abort).
    """
    try:
        return run(coro)
    except ValidationError as exc:
        err_console.print(f"[red]invalid input:[/] {_errors_of(exc)}")
        raise typer.Exit(2) from exc
    except PaymentsError as exc:
        err_console.print(f"[red]{exc.type}:[/] {exc}")
        raise typer.Exit(2) from exc
    except RuntimeError as exc:
        if "connect" in str(exc).lower():
            err_console.print(f"[red]cannot reach Temporal:[/] {exc}. Is `payments dev` running?")
            raise typer.Exit(1) from exc
        raise


def _print_json(value: BaseModel | list[Any]) -> None:
    if isinstance(value, BaseModel):
        console.print_json(value.model_dump_json())
    else:
        console.print_json(json.dumps([v.model_dump(mode="json") for v in value]))


@app.command()
def dev(ctx: typer.Context) -> None:
    """Run the whole engine here: Temporal + Web UI, worker, relay, sandbox, SQLite ledger."""
    from payments_engine.starter.dev import DevError, run_dev
    from payments_engine.starter.ports import PortTaken
    from payments_engine.starter.stack import StackError

    settings = _settings(ctx)
    try:
        run(run_dev(settings, console))
    except (PortTaken, DevError, StackError) as exc:
        err_console.print(f"[red]payments dev cannot start:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


@app.command()
def worker() -> None:
    """Run a worker alone (scale out by running more, on any machine); Ctrl-C stops it."""
    from payments_engine.worker.main import main as worker_main

    worker_main()


@app.command()
def relay() -> None:
    """Run the webhook relay alone (needs PAYMENTS_HUB_WEBHOOK_SECRET and a migrated ledger)."""
    from payments_engine.relay.__main__ import main as relay_main

    relay_main()


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def sandbox(ctx: typer.Context) -> None:
    """Run the sandbox hub alone; options: payments sandbox --help."""
    from payments_engine.sandbox.__main__ import main as sandbox_main

    # The sandbox parses its own options (--host, --port, --webhook-url ...).
    sandbox_main(list(ctx.args), prog="payments sandbox")


@app.command()
def demo(ctx: typer.Context) -> None:
    """Against a running engine: fund, pay one payout per sandbox scenario, show outcomes."""
    from payments_engine.starter.demo import run_demo

    _run(run_demo(_settings(ctx), console))


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply the ledger database migrations (``payments dev`` does this itself)."""
    settings = _settings(ctx)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _run(upgrade(settings.resolved_database_url))
    console.print("[green]ledger database is up to date[/]")


@payout_app.command("create")
def payout_create(
    ctx: typer.Context,
    payout_id: Annotated[str, typer.Option("--id", help="Your unique id for this payout.")],
    amount: Annotated[str, typer.Option(help="Amount in major units, e.g. 1500.00")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code, e.g. KES")],
    phone: Annotated[str, typer.Option(help="Recipient's mobile number, e.g. +254712345678")],
    country: Annotated[str, typer.Option(help="Recipient's country, ISO 3166 alpha-2")],
    merchant: MerchantOption = DEFAULT_MERCHANT_ID,
    provider: Annotated[
        str, typer.Option(help=f"Who pays it out: {', '.join(PROVIDERS)}.")
    ] = DEFAULT_PROVIDER,
    description: Annotated[str | None, typer.Option(help="Shown to the recipient.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the payout is final.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Pay money out to a mobile wallet (the same --id twice returns the same payout)."""

    async def _create() -> None:
        request = PayoutRequest(
            payout_id=payout_id,
            merchant_id=merchant,
            amount=Money.from_major(amount, currency.upper()),
            recipient_msisdn=phone,
            country=country,
            provider=provider,
            description=description,
        )
        PaymentsClient.check_provider(request.provider)
        async with open_client(_settings(ctx)) as client:
            created = await client.create_payout(request)
            view = await (client.wait_payout if wait else client.get_payout)(created.payout_id)
        _show_view(view, as_json)
        if not as_json:
            console.print(
                f"Web UI: {_settings(ctx).temporal_ui_url()}/workflows/{created.workflow_id}"
            )

    _run(_create())


@payout_app.command("status")
def payout_status(
    ctx: typer.Context,
    payout_id: Annotated[str, typer.Argument(help="The payout's id.")],
    as_json: JsonOption = False,
) -> None:
    """Show where a payout stands."""

    async def _status() -> None:
        async with open_client(_settings(ctx)) as client:
            view = await client.get_payout(payout_id)
        _show_view(view, as_json)

    _run(_status())


@payout_app.command("list")
def payout_list(
    ctx: typer.Context,
    status: Annotated[PayoutStatus | None, typer.Option(help="Only this status.")] = None,
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List payouts, newest first (from search attributes; no PII)."""

    async def _list() -> None:
        async with open_client(_settings(ctx)) as client:
            payouts = await client.list_payouts(status=status, merchant_id=merchant, limit=limit)
        if as_json:
            _print_json(payouts)
            return
        table = Table("payout", "merchant", "status", "amount", "country", "started")
        for p in payouts:
            table.add_row(
                p.payout_id,
                p.merchant_id or "",
                p.status or "",
                str(p.amount) if p.amount else "",
                p.country or "",
                p.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            )
        console.print(table)

    _run(_list())


@payout_app.command("resolve")
def payout_resolve(
    ctx: typer.Context,
    payout_id: Annotated[str, typer.Argument(help="A payout in needs_review.")],
    outcome: Annotated[PayoutStatus, typer.Option(help="succeeded or failed")],
    note: Annotated[str, typer.Option(help="What you checked with the provider.")],
    as_json: JsonOption = False,
) -> None:
    """Settle or fail a payout that needs review, after checking with the provider."""

    async def _resolve() -> None:
        decision = ResolvePayout(outcome=outcome, note=note)
        async with open_client(_settings(ctx)) as client:
            view = await client.resolve_payout(payout_id, decision)
        _show_view(view, as_json)

    _run(_resolve())


@ledger_app.command("fund")
def ledger_fund(
    ctx: typer.Context,
    amount: Annotated[str, typer.Option(help="Amount in major units, e.g. 100000.00")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code, e.g. KES")],
    reference: Annotated[
        str, typer.Option(help="The bank transfer's reference: the same one credits once.")
    ],
    merchant: MerchantOption = DEFAULT_MERCHANT_ID,
    as_json: JsonOption = False,
) -> None:
    """Credit a merchant's available balance, as a top-up received by bank transfer."""

    async def _fund() -> None:
        funding = FundMerchantInput(
            merchant_id=merchant,
            amount=Money.from_major(amount, currency.upper()),
            reference=reference,
        )
        async with open_client(_settings(ctx), with_ledger=True) as client:
            entry = await client.fund_merchant(funding)
            balances = await client.balances(merchant)
        if as_json:
            _print_json(entry)
            return
        verb = "credited" if entry.created else "already credited (same reference)"
        console.print(f"{funding.amount} {verb} to merchant {merchant}")
        _print_balances(balances)

    _run(_fund())


@ledger_app.command("balance")
def ledger_balance(
    ctx: typer.Context,
    merchant: Annotated[
        str | None, typer.Option(help="Merchant id; all accounts when omitted.")
    ] = DEFAULT_MERCHANT_ID,
    all_accounts: Annotated[bool, typer.Option("--all", help="Every account.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show a merchant's balances (available and reserved), or every account's."""

    async def _balance() -> None:
        async with open_client(_settings(ctx), with_ledger=True) as client:
            balances = await client.balances(None if all_accounts else merchant)
        if as_json:
            _print_json(balances)
        else:
            _print_balances(balances)

    _run(_balance())


def _show_view(view: PayoutView, as_json: bool) -> None:
    if as_json:
        _print_json(view)
    else:
        _print_views([view])


def _print_views(views: list[PayoutView]) -> None:
    # Review flags only when some payout has them: why it went to needs_review.
    with_review = any(v.review_flags for v in views)
    columns = ["payout", "status", "amount", "recipient", "provider status", "failure"]
    table = Table(*columns, *(["review"] if with_review else []))
    for v in views:
        cells = [
            v.payout_id,
            v.status.value,
            str(v.amount),
            v.recipient,
            v.provider_status or "",
            v.failure_code or "",
        ]
        if with_review:
            cells.append(", ".join(flag.value for flag in v.review_flags))
        table.add_row(*cells)
    console.print(table)


def _print_balances(balances: list[Any]) -> None:
    table = Table("account", "currency", "balance")
    for b in balances:
        table.add_row(b.account, b.currency, str(Money(amount=b.balance, currency=b.currency)))
    console.print(table)


def main() -> None:
    """Entry point of the ``payments`` console script."""
    app()
