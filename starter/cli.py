"""The ``payments`` command: run the engine; payouts, collections, refunds, cards; the ledger.

Every command reads settings from ``PAYMENTS_*`` environment variables (see README) and
prints a table, or JSON with ``--json``. Bad input exits with status 2 and one line on
stderr, ``invalid input: <field>: <reason>`` (several mistakes joined by ``; ``; fields
named as the options are, see :mod:`payments_engine.starter.errors`), before Temporal is
contacted: nothing is started.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape

from payments_engine.activities.providers.registry import PROVIDERS
from payments_engine.db.migrate import upgrade
from payments_engine.domain.bank import AccountType, BankAccount, DocumentType
from payments_engine.domain.card import (
    DEFAULT_CARD_PROVIDER,
    Cardholder,
    CardLimits,
    CardTransaction,
    CardView,
    FundCardRequest,
    IdDocument,
    IssueCardRequest,
)
from payments_engine.domain.cash import CashOrderRequest, CashOrderStatus, CashOrderView, Payer
from payments_engine.domain.collection import (
    DEFAULT_APPROVAL_WINDOW_SECONDS,
    CollectionRequest,
    CollectionStatus,
    CollectionView,
)
from payments_engine.domain.errors import (
    InvalidAmount,
    InvalidLimits,
    PaymentsError,
    ValidationFailed,
)
from payments_engine.domain.ids import check_business_id
from payments_engine.domain.ledger import FundMerchantInput, RefundOrigin
from payments_engine.domain.money import SERVED_CURRENCIES, Money
from payments_engine.domain.payout import (
    DEFAULT_MERCHANT_ID,
    DEFAULT_PROVIDER,
    PayoutRequest,
    PayoutStatus,
    PayoutView,
    ResolvePayout,
)
from payments_engine.domain.reconciliation import (
    ReconciliationPolicy,
    ReconciliationRequest,
    RunView,
    schedule_id,
)
from payments_engine.domain.refund import RefundRequest, RefundStatus, RefundView
from payments_engine.runtime.settings import Settings, SettingsError, load_settings
from payments_engine.runtime.temporal import run
from payments_engine.starter import batch_cli
from payments_engine.starter.cards import CardsClient
from payments_engine.starter.cash_orders import DEFAULT_CASH_PROVIDER, CashOrdersClient
from payments_engine.starter.client import PaymentsClient, open_client
from payments_engine.starter.collections import CollectionsClient
from payments_engine.starter.errors import (
    Problem,
    describe,
    join,
    problems,
    without_type_prefixes,
)
from payments_engine.starter.reconcile_report import run_csv, run_html, run_json, run_table
from payments_engine.starter.reconciliation import (
    check_reporting_provider,
    reconciling_providers,
)
from payments_engine.starter.tables import plain_table, print_table

T = TypeVar("T")

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Durable payments engine on Temporal: run it, pay out, fund and read the ledger.",
)
payout_app = typer.Typer(no_args_is_help=True, help="Create, follow and list payouts.")
collection_app = typer.Typer(
    no_args_is_help=True, help="Collect from payers' wallets; follow and list collections."
)
refund_app = typer.Typer(no_args_is_help=True, help="Refund collections; follow and list refunds.")
card_app = typer.Typer(
    no_args_is_help=True, help="Issue prepaid virtual cards; fund, limit, freeze and read them."
)
cash_order_app = typer.Typer(
    no_args_is_help=True,
    help="Cash vouchers (Efecty, OXXO): create, follow, list, refund by bank transfer.",
)
ledger_app = typer.Typer(no_args_is_help=True, help="Fund merchants and read balances.")
reconcile_app = typer.Typer(
    no_args_is_help=True,
    help="Match providers' daily settlement reports to the ledger; review and resolve findings.",
)
app.add_typer(payout_app, name="payout")
app.add_typer(collection_app, name="collection")
app.add_typer(refund_app, name="refund")
app.add_typer(card_app, name="card")
app.add_typer(cash_order_app, name="cash-order")
app.add_typer(ledger_app, name="ledger")
app.add_typer(reconcile_app, name="reconcile")

console = Console()
err_console = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
MerchantOption = Annotated[str, typer.Option("--merchant", help="Merchant id.")]
CurrencyOption = Annotated[
    str, typer.Option(help=f"Currency code, any case: {', '.join(SERVED_CURRENCIES)}.")
]


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


def _refuse(mistakes: str) -> NoReturn:
    """Exit 2 with ``invalid input: <field>: <reason>[; ...]`` on stderr."""
    # Input is shown as given: no rich markup, emoji codes (":x:") or highlighting in it.
    err_console.print(
        f"[red]invalid input:[/] {escape(mistakes)}", soft_wrap=True, emoji=False, highlight=False
    )
    raise typer.Exit(2)


# Stands in for an amount or currency that was refused, so that the other fields of the
# same command are still checked and every mistake is told at once.
_STAND_IN = Money(amount=1, currency=SERVED_CURRENCIES[0])


class _Input:
    """The input mistakes of one command, checked before anything is contacted."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def check(self, build: Callable[[], T]) -> T | None:
        """``build()``, or None once its mistakes are noted."""
        try:
            return build()
        except (ValidationError, ValidationFailed) as exc:
            self.problems.extend(problems(exc))
            return None

    def done(self) -> None:
        """Refuse the command (exit 2) if a mistake was noted."""
        if self.problems:
            _refuse(join(self.problems))


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine, turning business errors into a clear exit.

    :func:`runtime.temporal.run` rather than :func:`asyncio.run`: it shuts the Temporal
    runtime down before the process exits (a command that did its work must not abort).
    """
    try:
        return run(coro)
    except (ValidationError, ValidationFailed) as exc:
        _refuse(describe(exc))
    except PaymentsError as exc:
        # A business error, said once: "PayoutNotResolvable: only a payout in ...", not
        # with the type Temporal put before the message of the workflow's error.
        reason = without_type_prefixes(str(exc))
        err_console.print(
            f"[red]{escape(exc.type)}:[/] {escape(reason)}",
            soft_wrap=True,
            emoji=False,
            highlight=False,
        )
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
    from payments_engine.starter.dev_server import DevServerFailing
    from payments_engine.starter.ports import PortTaken
    from payments_engine.starter.stack import StackError

    settings = _settings(ctx)
    try:
        run(run_dev(settings, console))
    except (PortTaken, DevError, StackError) as exc:
        err_console.print(f"[red]payments dev cannot start:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    except DevServerFailing as exc:
        err_console.print(f"[red]payments dev stopped:[/] {exc}", soft_wrap=True)
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
    currency: CurrencyOption,
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
    checks = _Input()
    money = checks.check(lambda: Money.from_major(amount, currency))
    checks.check(lambda: PaymentsClient.check_provider(provider))
    request = checks.check(
        lambda: PayoutRequest(
            payout_id=payout_id,
            merchant_id=merchant,
            amount=money if money is not None else _STAND_IN,
            recipient_msisdn=phone,
            country=country,
            provider=provider,
            description=description,
        )
    )
    checks.done()
    assert request is not None

    async def _create() -> None:
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
    checks = _Input()
    checks.check(lambda: check_business_id(payout_id))
    checks.done()

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
        _print_summaries("payout", [(p.payout_id, p) for p in payouts])

    _run(_list())


@payout_app.command("resolve")
def payout_resolve(
    ctx: typer.Context,
    payout_id: Annotated[
        str, typer.Argument(help="A payout in needs_review, or one the provider has no record of.")
    ],
    # A plain string checked by ResolvePayout, so that a wrong one is told as any other
    # input mistake (``outcome: ...``).
    outcome: Annotated[str, typer.Option(help="succeeded or failed")],
    note: Annotated[str, typer.Option(help="What you checked with the provider.")],
    as_json: JsonOption = False,
) -> None:
    """Settle or fail a payout that needs review, after checking with the provider."""
    checks = _Input()
    checks.check(lambda: check_business_id(payout_id))
    decision = checks.check(
        lambda: ResolvePayout.model_validate({"outcome": outcome, "note": note})
    )
    checks.done()
    assert decision is not None

    async def _resolve() -> None:
        async with open_client(_settings(ctx)) as client:
            view = await client.resolve_payout(payout_id, decision)
        _show_view(view, as_json)

    _run(_resolve())


@payout_app.command("recheck")
def payout_recheck(
    ctx: typer.Context,
    payout_id: Annotated[str, typer.Argument(help="A payout with the provider.")],
    as_json: JsonOption = False,
) -> None:
    """Ask the provider now; a verified final answer settles or fails the payout."""
    checks = _Input()
    checks.check(lambda: check_business_id(payout_id))
    checks.done()

    async def _recheck() -> None:
        async with open_client(_settings(ctx)) as client:
            view = await client.recheck_payout(payout_id)
        _show_view(view, as_json)

    _run(_recheck())


@collection_app.command("create")
def collection_create(
    ctx: typer.Context,
    collection_id: Annotated[str, typer.Option("--id", help="Your unique id for it.")],
    amount: Annotated[str, typer.Option(help="Amount in major units, e.g. 1500.00")],
    currency: CurrencyOption,
    phone: Annotated[str, typer.Option(help="Payer's mobile number, e.g. +254712345678")],
    country: Annotated[str, typer.Option(help="Payer's country, ISO 3166 alpha-2")],
    merchant: MerchantOption = DEFAULT_MERCHANT_ID,
    provider: Annotated[str, typer.Option(help="Who collects it (one that collects).")] = (
        DEFAULT_PROVIDER
    ),
    reference: Annotated[
        str | None, typer.Option(help="Your order reference, kept with it.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="Shown to the payer.")] = None,
    window: Annotated[
        int, typer.Option(help="Seconds the payer has to approve (1-600).")
    ] = DEFAULT_APPROVAL_WINDOW_SECONDS,
    wait: Annotated[bool, typer.Option(help="Wait until the collection ends.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Ask a payer to pay from a mobile wallet (the same --id twice is one collection)."""
    checks = _Input()
    money = checks.check(lambda: Money.from_major(amount, currency))
    checks.check(lambda: CollectionsClient.check_provider(provider))
    request = checks.check(
        lambda: CollectionRequest(
            collection_id=collection_id,
            merchant_id=merchant,
            amount=money if money is not None else _STAND_IN,
            payer_msisdn=phone,
            country=country,
            provider=provider,
            merchant_reference=reference,
            description=description,
            approval_window_seconds=window,
        )
    )
    checks.done()
    assert request is not None

    async def _create() -> None:
        async with open_client(_settings(ctx)) as client:
            created = await client.collections.create(request)
            get = client.collections.wait if wait else client.collections.get
            view = await get(created.collection_id)
        _show_collection(view, as_json)
        if not as_json:
            console.print(
                f"Web UI: {_settings(ctx).temporal_ui_url()}/workflows/{created.workflow_id}"
            )

    _run(_create())


@collection_app.command("status")
def collection_status(
    ctx: typer.Context,
    collection_id: Annotated[str, typer.Argument(help="The collection's id.")],
    as_json: JsonOption = False,
) -> None:
    """Show where a collection stands."""
    checks = _Input()
    checks.check(lambda: check_business_id(collection_id))
    checks.done()

    async def _status() -> None:
        async with open_client(_settings(ctx)) as client:
            view = await client.collections.get(collection_id)
        _show_collection(view, as_json)

    _run(_status())


@collection_app.command("list")
def collection_list(
    ctx: typer.Context,
    status: Annotated[CollectionStatus | None, typer.Option(help="Only this status.")] = None,
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List collections, newest first (from search attributes; no PII)."""

    async def _list() -> None:
        async with open_client(_settings(ctx)) as client:
            found = await client.collections.list(status=status, merchant_id=merchant, limit=limit)
        if as_json:
            _print_json(found)
            return
        _print_summaries("collection", [(c.collection_id, c) for c in found])

    _run(_list())


@refund_app.command("create")
def refund_create(
    ctx: typer.Context,
    refund_id: Annotated[
        str, typer.Option("--id", help="Your unique refund id (external_refund_id).")
    ],
    original: Annotated[str, typer.Option(help="The id of the collection to refund.")],
    amount: Annotated[str, typer.Option(help="Amount in major units; at most what is left.")],
    currency: CurrencyOption,
    reason: Annotated[str, typer.Option(help="Why it is refunded (1-200 characters).")],
    merchant: MerchantOption = DEFAULT_MERCHANT_ID,
    wait: Annotated[
        bool, typer.Option(help="Wait until the refund is processed or failed.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Refund a collection in full or in part (the same --id twice is one refund)."""
    checks = _Input()
    money = checks.check(lambda: Money.from_major(amount, currency))
    request = checks.check(
        lambda: RefundRequest(
            refund_id=refund_id,
            original_id=original,
            merchant_id=merchant,
            amount=money if money is not None else _STAND_IN,
            reason=reason,
        )
    )
    checks.done()
    assert request is not None

    _run(_create_refund(ctx, request, wait, as_json))


async def _create_refund(
    ctx: typer.Context, request: RefundRequest, wait: bool, as_json: bool
) -> None:
    """Start the refund, then show it (processed or failed, with ``wait``)."""
    async with open_client(_settings(ctx)) as client:
        created = await client.refunds.create(request)
        get = client.refunds.wait if wait else client.refunds.get
        view = await get(created.refund_id)
    _show_refund(view, as_json)


@refund_app.command("status")
def refund_status(
    ctx: typer.Context,
    refund_id: Annotated[str, typer.Argument(help="The refund's id.")],
    as_json: JsonOption = False,
) -> None:
    """Show where a refund stands."""
    checks = _Input()
    checks.check(lambda: check_business_id(refund_id))
    checks.done()

    async def _status() -> None:
        async with open_client(_settings(ctx)) as client:
            view = await client.refunds.get(refund_id)
        _show_refund(view, as_json)

    _run(_status())


@refund_app.command("list")
def refund_list(
    ctx: typer.Context,
    original: Annotated[str | None, typer.Option(help="Only the refunds of this collection.")] = (
        None
    ),
    status: Annotated[RefundStatus | None, typer.Option(help="Only this status.")] = None,
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List refunds, newest first: all, or one collection's (no PII)."""
    checks = _Input()
    if original is not None:
        checks.check(lambda: check_business_id(original))
    checks.done()

    async def _list() -> None:
        async with open_client(_settings(ctx)) as client:
            found = await client.refunds.list(
                original_id=original, status=status, merchant_id=merchant, limit=limit
            )
        if as_json:
            _print_json(found)
            return
        _print_summaries("refund", [(r.refund_id, r) for r in found])

    _run(_list())


DocumentTypeOption = Annotated[
    DocumentType, typer.Option(help="Identity document: CC, CE, NIT, PP (CO); CURP, RFC, PP (MX).")
]


@cash_order_app.command("create")
def cash_order_create(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Option("--id", help="Your unique order id.")],
    amount: Annotated[str, typer.Option(help="Amount in major units, e.g. 150000 (COP).")],
    currency: CurrencyOption,
    country: Annotated[str, typer.Option(help="Payer's country: CO (Efecty) or MX (OXXO).")],
    payer_name: Annotated[str, typer.Option(help="Payer's full name.")],
    document_type: DocumentTypeOption,
    document_number: Annotated[str, typer.Option(help="Payer's document number.")],
    provider: Annotated[str, typer.Option(help="The cash network: efecty or oxxo.")] = (
        DEFAULT_CASH_PROVIDER
    ),
    email: Annotated[str | None, typer.Option(help="Payer's e-mail, if the network wants it.")] = (
        None
    ),
    expires_in_days: Annotated[
        int | None, typer.Option(help="Days the voucher may be paid (default: the network's).")
    ] = None,
    merchant: MerchantOption = DEFAULT_MERCHANT_ID,
    reference: Annotated[str | None, typer.Option(help="Your order reference.")] = None,
    description: Annotated[str | None, typer.Option(help="What is bought.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until it is paid or expired.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Issue a cash voucher the payer pays at a shop (the same --id twice is one order)."""
    checks = _Input()
    money = checks.check(lambda: Money.from_major(amount, currency))
    payer = checks.check(
        lambda: Payer(
            name=payer_name,
            document_type=document_type,
            document_number=document_number,
            email=email,
        )
    )
    request = checks.check(
        lambda: CashOrderRequest(
            order_id=order_id,
            merchant_id=merchant,
            amount=money if money is not None else _STAND_IN,
            country=country,
            provider=provider,
            payer=payer or _STAND_IN_PAYER,
            expires_in_days=expires_in_days,
            merchant_reference=reference,
            description=description,
        )
    )
    if request is not None and money is not None and payer is not None:
        # The network's own rules: currency, limits, whole pesos, expiry, documents.
        checks.check(lambda: CashOrdersClient.checked(request))
    checks.done()
    assert request is not None

    async def _create() -> None:
        async with open_client(_settings(ctx)) as client:
            created = await client.cash_orders.create(request)
            if wait:
                view = await client.cash_orders.wait(created.order_id)
            else:
                view = await client.cash_orders.wait(
                    created.order_id, until=frozenset(CashOrderStatus) - {CashOrderStatus.RECEIVED}
                )
        _show_cash_order(view, as_json)
        if not as_json:
            console.print(
                f"Web UI: {_settings(ctx).temporal_ui_url()}/workflows/{created.workflow_id}"
            )

    _run(_create())


@cash_order_app.command("status")
def cash_order_status(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="The order's id.")],
    as_json: JsonOption = False,
) -> None:
    """Show where a cash order stands, and what the payer is told."""
    checks = _Input()
    checks.check(lambda: check_business_id(order_id))
    checks.done()

    async def _status() -> None:
        async with open_client(_settings(ctx)) as client:
            view = await client.cash_orders.get(order_id)
        _show_cash_order(view, as_json)

    _run(_status())


@cash_order_app.command("list")
def cash_order_list(
    ctx: typer.Context,
    status: Annotated[CashOrderStatus | None, typer.Option(help="Only this status.")] = None,
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List cash orders, newest first (from search attributes; no PII)."""

    async def _list() -> None:
        async with open_client(_settings(ctx)) as client:
            found = await client.cash_orders.list(status=status, merchant_id=merchant, limit=limit)
        if as_json:
            _print_json(found)
            return
        _print_summaries("cash order", [(o.order_id, o) for o in found])

    _run(_list())


@cash_order_app.command("refund")
def cash_order_refund(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="The cash order to refund.")],
    refund_id: Annotated[
        str, typer.Option("--id", help="Your unique refund id (external_refund_id).")
    ],
    amount: Annotated[str, typer.Option(help="Amount in major units; at most what is left.")],
    currency: CurrencyOption,
    reason: Annotated[str, typer.Option(help="Why it is refunded (1-200 characters).")],
    bank_code: Annotated[str | None, typer.Option(help="Payer's bank (ACH code, e.g. 007).")] = (
        None
    ),
    account_type: Annotated[AccountType | None, typer.Option(help="savings or checking.")] = None,
    account_number: Annotated[str | None, typer.Option(help="Payer's account number.")] = None,
    document_type: Annotated[
        DocumentType | None, typer.Option(help="Account holder's document type.")
    ] = None,
    document_number: Annotated[
        str | None, typer.Option(help="Account holder's document number.")
    ] = None,
    holder_name: Annotated[str | None, typer.Option(help="Account holder's name.")] = None,
    bank_country: Annotated[str, typer.Option(help="Country of the account.")] = "CO",
    merchant: MerchantOption = DEFAULT_MERCHANT_ID,
    wait: Annotated[
        bool, typer.Option(help="Wait until the transfer is settled or returned.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Refund a cash order by bank transfer to the payer's account (never in cash)."""
    checks = _Input()
    money = checks.check(lambda: Money.from_major(amount, currency))
    given = [bank_code, account_type, account_number, document_type, document_number, holder_name]
    account = None
    if any(value is not None for value in given):
        account = checks.check(
            lambda: BankAccount.model_validate(
                {
                    name: value
                    for name, value in {
                        "bank_code": bank_code,
                        "account_type": account_type,
                        "account_number": account_number,
                        "document_type": document_type,
                        "document_number": document_number,
                        "holder_name": holder_name,
                        "country": bank_country,
                    }.items()
                    # A missing field is told as missing, not as an invalid None.
                    if value is not None
                }
            )
        )
    request = None
    if account is not None or not any(value is not None for value in given):
        request = checks.check(
            lambda: CashOrdersClient.refund_request(
                order_id,
                refund_id=refund_id,
                amount=money if money is not None else _STAND_IN,
                reason=reason,
                bank_account=account,
                merchant_id=merchant,
            )
        )
    checks.done()
    assert request is not None

    _run(_create_refund(ctx, request, wait, as_json))


CardIdArgument = Annotated[str, typer.Argument(help="The card's id.")]
_STAND_IN_PAYER = Payer(name="x x", document_type=DocumentType.PP, document_number="00000")
_STAND_IN_HOLDER = Cardholder(
    first_name="x",
    last_name="x",
    date_of_birth="2000-01-01",  # type: ignore[arg-type]
    id_document=IdDocument(type="passport", number="0000"),
    country="KE",
)


def _minor(option: str, value: str | None, currency: str) -> int | None:
    """A major-unit amount option in minor units; its mistake named after the option."""
    if value is None:
        return None
    try:
        return Money.from_major(value, currency).amount
    except InvalidAmount as exc:
        raise InvalidLimits(f"{option}: {exc}") from None


def _limits(
    checks: _Input,
    per_authorization: str | None,
    daily_amount: str | None,
    daily_count: int | None,
    countries: str | None,
    block_mcc: str | None,
    day_offset_minutes: int,
    currency: str,
) -> CardLimits | None:
    """The limits given on the command line (amounts in major units of ``currency``)."""

    per_auth = checks.check(lambda: _minor("per-authorization", per_authorization, currency))
    daily = checks.check(lambda: _minor("daily-amount", daily_amount, currency))
    return checks.check(
        lambda: CardLimits(
            per_authorization=per_auth,
            daily_amount=daily,
            daily_count=daily_count,
            allowed_countries=None if countries is None else countries.split(","),
            blocked_categories=[] if block_mcc is None else block_mcc.split(","),
            day_offset_minutes=day_offset_minutes,
        )
    )


PerAuthorizationOption = Annotated[
    str | None, typer.Option(help="Most one authorization may take, in major units.")
]
DailyAmountOption = Annotated[
    str | None, typer.Option(help="Most the card may spend per day, in major units.")
]
DailyCountOption = Annotated[int | None, typer.Option(help="Most authorizations per day.")]
CountriesOption = Annotated[
    str | None, typer.Option(help="Countries the card works in, e.g. KE,UG (default all).")
]
BlockMccOption = Annotated[
    str | None, typer.Option(help="Merchant category codes to refuse, e.g. 7995,5933.")
]
DayOffsetOption = Annotated[
    int, typer.Option(help="Minutes the card's day starts after midnight UTC (180: Nairobi).")
]


@card_app.command("issue")
def card_issue(
    ctx: typer.Context,
    card_id: Annotated[str, typer.Option("--id", help="Your unique card id.")],
    currency: CurrencyOption,
    first_name: Annotated[str, typer.Option(help="Cardholder's first name.")],
    last_name: Annotated[str, typer.Option(help="Cardholder's last name.")],
    date_of_birth: Annotated[str, typer.Option("--dob", help="YYYY-MM-DD.")],
    id_number: Annotated[str, typer.Option(help="Identity document number.")],
    country: Annotated[str, typer.Option(help="Cardholder's country, e.g. KE.")],
    id_type: Annotated[str, typer.Option(help="national_id or passport.")] = "national_id",
    per_authorization: PerAuthorizationOption = None,
    daily_amount: DailyAmountOption = None,
    daily_count: DailyCountOption = None,
    countries: CountriesOption = None,
    block_mcc: BlockMccOption = None,
    day_offset_minutes: DayOffsetOption = 0,
    low_balance: Annotated[
        str | None, typer.Option(help="Alert when the balance falls below this (major units).")
    ] = None,
    merchant: MerchantOption = DEFAULT_MERCHANT_ID,
    provider: Annotated[str, typer.Option(help="The card issuer.")] = DEFAULT_CARD_PROVIDER,
    as_json: JsonOption = False,
) -> None:
    """Issue a prepaid virtual card (KYC first); the same --id twice is one card."""
    checks = _Input()
    limits = _limits(
        checks,
        per_authorization,
        daily_amount,
        daily_count,
        countries,
        block_mcc,
        day_offset_minutes,
        currency,
    )
    threshold = checks.check(lambda: _minor("low-balance", low_balance, currency))
    checks.check(lambda: CardsClient.check_provider(provider))
    holder = checks.check(
        lambda: Cardholder.model_validate(
            {
                "first_name": first_name,
                "last_name": last_name,
                "date_of_birth": date_of_birth,
                "id_document": {"type": id_type, "number": id_number},
                "country": country,
            }
        )
    )
    request = checks.check(
        lambda: IssueCardRequest(
            card_id=card_id,
            merchant_id=merchant,
            provider=provider,
            currency=currency,
            # A refused cardholder is told above; this stand-in keeps it from being told twice.
            cardholder=holder or _STAND_IN_HOLDER,
            limits=limits or CardLimits(),
            low_balance_threshold=threshold,
        )
    )
    checks.done()
    assert request is not None

    async def _issue() -> None:
        async with open_client(_settings(ctx)) as client:
            created = await client.cards.issue(request)
            view = await client.cards.get(created.card_id)
        _show_card(view, as_json)

    _run(_issue())


@card_app.command("show")
def card_show(ctx: typer.Context, card_id: CardIdArgument, as_json: JsonOption = False) -> None:
    """Show a card: state, balance, holds, limits, today's usage."""
    _card_action(ctx, card_id, "get", as_json)


@card_app.command("fund")
def card_fund(
    ctx: typer.Context,
    card_id: CardIdArgument,
    amount: Annotated[str, typer.Option(help="Amount in major units, e.g. 5000.00")],
    currency: CurrencyOption,
    reference: Annotated[
        str, typer.Option(help="Your funding reference: the same one credits once.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Move money from the platform's available balance onto the card."""
    checks = _Input()
    checks.check(lambda: check_business_id(card_id))
    money = checks.check(lambda: Money.from_major(amount, currency))
    request = checks.check(
        lambda: FundCardRequest(
            reference=reference, amount=money if money is not None else _STAND_IN
        )
    )
    checks.done()
    assert request is not None

    async def _fund() -> None:
        async with open_client(_settings(ctx)) as client:
            view = await client.cards.fund(card_id, request)
        _show_card(view, as_json)

    _run(_fund())


@card_app.command("limits")
def card_limits(
    ctx: typer.Context,
    card_id: CardIdArgument,
    per_authorization: PerAuthorizationOption = None,
    daily_amount: DailyAmountOption = None,
    daily_count: DailyCountOption = None,
    countries: CountriesOption = None,
    block_mcc: BlockMccOption = None,
    day_offset_minutes: DayOffsetOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Replace a card's spending controls (an option left out means no such limit)."""
    checks = _Input()
    checks.check(lambda: check_business_id(card_id))
    checks.done()

    async def _set() -> None:
        async with open_client(_settings(ctx)) as client:
            current = await client.cards.get(card_id)
            checks = _Input()
            limits = _limits(
                checks,
                per_authorization,
                daily_amount,
                daily_count,
                countries,
                block_mcc,
                day_offset_minutes,
                current.currency,
            )
            checks.done()
            assert limits is not None
            view = await client.cards.set_limits(card_id, limits)
        _show_card(view, as_json)

    _run(_set())


def _card_action(ctx: typer.Context, card_id: str, action: str, as_json: bool) -> None:
    checks = _Input()
    checks.check(lambda: check_business_id(card_id))
    checks.done()

    async def _act() -> None:
        async with open_client(_settings(ctx)) as client:
            view = await getattr(client.cards, action)(card_id)
        _show_card(view, as_json)

    _run(_act())


@card_app.command("freeze")
def card_freeze(ctx: typer.Context, card_id: CardIdArgument, as_json: JsonOption = False) -> None:
    """Decline every authorization until the card is unfrozen."""
    _card_action(ctx, card_id, "freeze", as_json)


@card_app.command("unfreeze")
def card_unfreeze(ctx: typer.Context, card_id: CardIdArgument, as_json: JsonOption = False) -> None:
    """Authorize again."""
    _card_action(ctx, card_id, "unfreeze", as_json)


@card_app.command("terminate")
def card_terminate(
    ctx: typer.Context, card_id: CardIdArgument, as_json: JsonOption = False
) -> None:
    """End the card for good; its balance returns once its holds are captured or expire."""
    _card_action(ctx, card_id, "terminate", as_json)


@card_app.command("transactions")
def card_transactions(
    ctx: typer.Context, card_id: CardIdArgument, as_json: JsonOption = False
) -> None:
    """List a card's recent transactions, oldest first."""
    checks = _Input()
    checks.check(lambda: check_business_id(card_id))
    checks.done()

    async def _list() -> None:
        async with open_client(_settings(ctx)) as client:
            found = await client.cards.transactions(card_id)
        if as_json:
            _print_json(found)
        else:
            _print_card_transactions(found)

    _run(_list())


@ledger_app.command("fund")
def ledger_fund(
    ctx: typer.Context,
    amount: Annotated[str, typer.Option(help="Amount in major units, e.g. 100000.00")],
    currency: CurrencyOption,
    reference: Annotated[
        str, typer.Option(help="The bank transfer's reference: the same one credits once.")
    ],
    merchant: MerchantOption = DEFAULT_MERCHANT_ID,
    as_json: JsonOption = False,
) -> None:
    """Credit a merchant's available balance, as a top-up received by bank transfer."""
    checks = _Input()
    money = checks.check(lambda: Money.from_major(amount, currency))
    funding = checks.check(
        lambda: FundMerchantInput(
            merchant_id=merchant,
            amount=money if money is not None else _STAND_IN,
            reference=reference,
        )
    )
    checks.done()
    assert funding is not None

    async def _fund() -> None:
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
    table = plain_table(*columns, *(["review"] if with_review else []))
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
    print_table(console, table)


def _show_collection(view: CollectionView, as_json: bool) -> None:
    if as_json:
        _print_json(view)
        return
    table = plain_table(
        "collection", "status", "amount", "fee", "payer", "provider status", "failure", "review"
    )
    table.add_row(
        view.collection_id,
        view.status.value,
        str(view.amount),
        str(view.fee) if view.fee else "",
        view.payer,
        view.provider_status or "",
        view.failure_code or "",
        ", ".join(flag.value for flag in view.review_flags),
    )
    print_table(console, table)


def _show_refund(view: RefundView, as_json: bool) -> None:
    if as_json:
        _print_json(view)
        return
    original = "cash order" if view.origin is RefundOrigin.CASH_ORDER else "collection"
    columns = ["refund", original, "status", "amount", "provider status", "failure"]
    cells = [
        view.refund_id,
        view.collection_id,
        view.status.value,
        str(view.amount),
        view.provider_status or "",
        view.failure_code or "",
    ]
    if view.destination is not None:
        columns.insert(4, "to")
        cells.insert(4, view.destination)
    table = plain_table(*columns)
    table.add_row(*cells)
    print_table(console, table)


def _show_cash_order(view: CashOrderView, as_json: bool) -> None:
    if as_json:
        _print_json(view)
        return
    table = plain_table(
        "cash order", "status", "amount", "payer", "reference", "expires", "settles", "review"
    )
    table.add_row(
        view.order_id,
        view.status.value,
        str(view.amount),
        f"{view.payer} ({view.payer_document})",
        view.voucher_reference or "",
        view.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if view.expires_at else "",
        view.settle_at.strftime("%Y-%m-%d %H:%M %Z") if view.settle_at else "",
        ", ".join(flag.value for flag in view.review_flags),
    )
    print_table(console, table)
    if view.instructions is not None and view.status is CashOrderStatus.AWAITING_PAYMENT:
        console.print(view.instructions.es, soft_wrap=True, emoji=False, highlight=False)
        console.print(view.instructions.en, soft_wrap=True, emoji=False, highlight=False)


def _show_card(view: CardView, as_json: bool) -> None:
    if as_json:
        _print_json(view)
        return

    def money(amount: int) -> str:
        return str(Money(amount=amount, currency=view.currency))

    table = plain_table("card", "state", "balance", "held", "last four", "expires", "today")
    table.add_row(
        view.card_id,
        view.state.value,
        money(view.balance),
        f"{money(view.held)} ({view.open_holds})",
        view.last_four or "",
        view.expires_at.strftime("%Y-%m") if view.expires_at else "",
        f"{money(view.today.amount)} in {view.today.count}",
    )
    print_table(console, table)


def _print_card_transactions(transactions: list[CardTransaction]) -> None:
    table = plain_table("at", "kind", "id", "amount", "result", "merchant", "flags")
    for t in transactions:
        result = ""
        if t.approved is not None:
            result = "approved" if t.approved else f"declined: {t.decline_reason}"
        merchant = (
            f"{t.merchant.name} ({t.merchant.mcc}, {t.merchant.country})" if t.merchant else ""
        )
        table.add_row(
            t.at.strftime("%Y-%m-%d %H:%M:%S"),
            t.kind.value,
            t.id,
            str(Money(amount=t.amount, currency=t.currency)),
            result,
            merchant,
            ", ".join(flag.value for flag in t.flags),
        )
    print_table(console, table)


def _print_summaries(kind: str, lines: list[tuple[str, Any]]) -> None:
    table = plain_table(kind, "merchant", "status", "amount", "country", "started")
    for reference, line in lines:
        table.add_row(
            reference,
            line.merchant_id or "",
            line.status or "",
            str(line.amount) if line.amount else "",
            line.country or "",
            line.started_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    print_table(console, table)


ProviderOption = Annotated[
    str, typer.Option("--provider", help="The provider whose settlement report it is.")
]
DateOption = Annotated[
    str | None,
    typer.Option("--date", help="The report's UTC date, YYYY-MM-DD (default: yesterday, UTC)."),
]


def _report_day(text: str | None) -> date:
    """``--date`` as a date; yesterday (UTC) without one. Exit 2 on a bad date."""
    if text is None:
        return datetime.now(UTC).date() - timedelta(days=1)
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        _refuse(f"date: {text[:20]!r} is not a date YYYY-MM-DD")


def _report_provider(name: str) -> None:
    """Exit 2 unless ``name`` publishes settlement reports."""
    try:
        check_reporting_provider(name)
    except PaymentsError as exc:
        _refuse(f"provider: {exc}")


def _show_run(run: RunView) -> None:
    print_table(console, run_table(run))


@reconcile_app.command("run")
def reconcile_run(
    ctx: typer.Context,
    provider: ProviderOption,
    day: DateOption = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="A report file to use instead of the download (CSV, or .json), e.g. from"
            " the provider's portal; the worker reads it, so give a path it can read.",
        ),
    ] = None,
    review_amount: Annotated[
        int,
        typer.Option(
            min=0, help="Findings with at least this much at stake (minor units) need review."
        ),
    ] = 0,
    alert_min: Annotated[
        int, typer.Option(min=1, help="Alert when at least this many findings need review.")
    ] = 1,
    as_json: JsonOption = False,
) -> None:
    """Reconcile one provider's settlement report for one date, and show what differs."""
    when = _report_day(day)
    _report_provider(provider)
    if file is not None and not file.is_file():
        _refuse(f"file: no such file {str(file)[:200]!r}")
    request = ReconciliationRequest(
        provider=provider,
        day=when,
        file=None if file is None else str(file.resolve()),
        policy=ReconciliationPolicy(
            review_amount_minor=review_amount, alert_min_findings=alert_min
        ),
    )

    async def _reconcile() -> None:
        async with open_client(_settings(ctx), with_ledger=True) as client:
            result = await client.reconciliation.run(request)
            run_view = await client.reconciliation.report(provider, when)
        if as_json:
            _print_json(result)
            return
        if run_view is not None:
            _show_run(run_view)
        if result.evidence_sent:
            console.print(
                f"{len(result.evidence_sent)} line(s) handed to their waiting workflows as evidence"
            )
        if result.alerted:
            console.print("alert raised: findings need review")

    _run(_reconcile())


@reconcile_app.command("report")
def reconcile_report(
    ctx: typer.Context,
    provider: ProviderOption,
    day: DateOption = None,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the findings as CSV.")] = False,
    html_file: Annotated[
        Path | None,
        typer.Option("--html", help="Write a self-contained HTML report to this file."),
    ] = None,
) -> None:
    """Show the stored run of a provider and date: totals and findings."""
    when = _report_day(day)
    _report_provider(provider)

    async def _report() -> None:
        async with open_client(_settings(ctx), with_ledger=True) as client:
            run_view = await client.reconciliation.report(provider, when)
        if run_view is None:
            err_console.print(
                f"no reconciliation of {provider} for {when.isoformat()}: run"
                f" `payments reconcile run --provider {provider} --date {when.isoformat()}`"
            )
            raise typer.Exit(1)
        if html_file is not None:
            html_file.write_text(run_html(run_view), encoding="utf-8")
            console.print(f"HTML report written to {html_file}")
            return
        if as_json:
            console.print(run_json(run_view), markup=False, highlight=False, soft_wrap=True)
        elif as_csv:
            typer.echo(run_csv(run_view), nl=False)
        else:
            _show_run(run_view)

    _run(_report())


@reconcile_app.command("resolve")
def reconcile_resolve(
    ctx: typer.Context,
    finding: Annotated[str, typer.Argument(help="The finding's id (rf_...).")],
    note: Annotated[str, typer.Option(help="Why it is resolved: what was checked or done.")],
    as_json: JsonOption = False,
) -> None:
    """Resolve a finding by hand, with a note (the same note again changes nothing)."""
    if not finding.startswith("rf_") or len(finding) > 40:
        _refuse(f"finding: {finding[:40]!r} is not a finding id (rf_...)")
    if not note.strip() or len(note) > 2000:
        _refuse("note: say why, in 1 to 2000 characters")

    async def _resolve() -> None:
        async with open_client(_settings(ctx), with_ledger=True) as client:
            resolved = await client.reconciliation.resolve(finding, note.strip())
        if as_json:
            _print_json(resolved)
            return
        console.print(
            f"{resolved.id} ({resolved.kind}, {resolved.reference or '-'}) resolved:"
            f" {resolved.note}",
            markup=False,
            highlight=False,
        )

    _run(_resolve())


@reconcile_app.command("schedule")
def reconcile_schedule(
    ctx: typer.Context,
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", help="A provider (repeatable); default: every one."),
    ] = None,
    at: Annotated[str, typer.Option(help="The daily time, HH:MM UTC.")] = "02:00",
    catchup_hours: Annotated[
        int, typer.Option(min=1, max=24 * 30, help="Catch up runs missed this long ago.")
    ] = 24,
    delete: Annotated[bool, typer.Option("--delete", help="Delete the schedules.")] = False,
    review_amount: Annotated[
        int,
        typer.Option(
            min=0, help="Findings with at least this much at stake (minor units) need review."
        ),
    ] = 0,
    alert_min: Annotated[
        int, typer.Option(min=1, help="Alert when at least this many findings need review.")
    ] = 1,
) -> None:
    """Create or update the daily reconciliation schedules (one per provider)."""
    names = provider or reconciling_providers()
    for name in names:
        _report_provider(name)
    try:
        hour_text, minute_text = at.split(":")
        hour, minute = int(hour_text), int(minute_text)
        if not (0 <= hour < 24 and 0 <= minute < 60) or len(at) != 5:
            raise ValueError(at)
    except ValueError:
        _refuse(f"at: {at[:10]!r} is not a time HH:MM")

    async def _schedule() -> None:
        async with open_client(_settings(ctx)) as client:
            for name in names:
                if delete:
                    gone = await client.reconciliation.unschedule(name)
                    console.print(f"{schedule_id(name)}: {'deleted' if gone else 'none'}")
                    continue
                done = await client.reconciliation.schedule(
                    name,
                    hour=hour,
                    minute=minute,
                    catchup_window=timedelta(hours=catchup_hours),
                    policy=ReconciliationPolicy(
                        review_amount_minor=review_amount, alert_min_findings=alert_min
                    ),
                )
                verb = "created" if done.created else "updated"
                console.print(
                    f"{done.schedule_id}: {verb}, daily at {done.at}, reconciles the day before"
                )

    _run(_schedule())


def _print_balances(balances: list[Any]) -> None:
    table = plain_table("account", "currency", "balance")
    for b in balances:
        table.add_row(b.account, b.currency, str(Money(amount=b.balance, currency=b.currency)))
    print_table(console, table)


batch_cli.register(payout_app, _settings, _run, console, err_console)


def main() -> None:
    """Entry point of the ``payments`` console script."""
    app()
