"""The sandbox's FastAPI app: the hub under ``/hub`` and ``/admin``; MoMo, if configured,
under ``/momo`` and ``/admin/momo``; the card issuer, if configured, under ``/issuer`` and
``/admin/issuer``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from payments_engine.sandbox.bank import admin_api as bank_admin
from payments_engine.sandbox.bank import bank_api
from payments_engine.sandbox.bank.config import BankSandboxConfig
from payments_engine.sandbox.bank.scenarios import markdown_table as bank_table
from payments_engine.sandbox.bank.state import BankState
from payments_engine.sandbox.bank.store import BankStore
from payments_engine.sandbox.cash.scenarios import markdown_table as voucher_table
from payments_engine.sandbox.common.dispatcher import WebhookDispatcher
from payments_engine.sandbox.common.state import SimulatorState, simulator_dispatcher
from payments_engine.sandbox.efecty import admin_api as efecty_admin
from payments_engine.sandbox.efecty import efecty_api
from payments_engine.sandbox.efecty.config import EfectySandboxConfig
from payments_engine.sandbox.efecty.state import EfectyState
from payments_engine.sandbox.efecty.store import EfectyStore
from payments_engine.sandbox.hub import admin_api as hub_admin
from payments_engine.sandbox.hub import hub_api
from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.scenarios import collection_markdown_table, refund_markdown_table
from payments_engine.sandbox.hub.scenarios import markdown_table as hub_table
from payments_engine.sandbox.hub.state import SandboxState
from payments_engine.sandbox.hub.store import HubStore
from payments_engine.sandbox.issuer import admin_api as issuer_admin
from payments_engine.sandbox.issuer import issuer_api
from payments_engine.sandbox.issuer.config import IssuerSandboxConfig
from payments_engine.sandbox.issuer.scenarios import markdown_table as kyc_table
from payments_engine.sandbox.issuer.state import IssuerState, issuer_dispatcher
from payments_engine.sandbox.issuer.store import IssuerStore
from payments_engine.sandbox.merchant import admin_api as merchant_admin
from payments_engine.sandbox.merchant import merchant_api
from payments_engine.sandbox.merchant.config import MerchantSandboxConfig
from payments_engine.sandbox.merchant.state import MerchantState
from payments_engine.sandbox.momo import admin_api as momo_admin
from payments_engine.sandbox.momo import momo_api
from payments_engine.sandbox.momo.config import MomoSandboxConfig
from payments_engine.sandbox.momo.scenarios import markdown_table as momo_table
from payments_engine.sandbox.momo.scenarios import request_to_pay_markdown_table
from payments_engine.sandbox.momo.state import MomoState
from payments_engine.sandbox.momo.store import MomoStore
from payments_engine.sandbox.oxxo import admin_api as oxxo_admin
from payments_engine.sandbox.oxxo import oxxo_api
from payments_engine.sandbox.oxxo.config import OxxoSandboxConfig
from payments_engine.sandbox.oxxo.state import OxxoState, oxxo_dispatcher
from payments_engine.sandbox.oxxo.store import OxxoStore

_DESCRIPTION = """\
A local mobile-wallet hub (MFS Africa shape) with magic phone numbers, signed and retried
webhooks, fault injection and an admin view of what it executed.

## Magic numbers (last six digits of the msisdn, any country)

"""

_COLLECTIONS_DESCRIPTION = """

## Collections (`POST /hub/v1/collections`): the payer's msisdn, last six digits

"""

_REFUNDS_DESCRIPTION = """

## Refunds of collections (`POST /hub/v1/refunds`): the amount in minor units, last two digits

"""

_MOMO_DESCRIPTION = """

## MTN MoMo disbursements (`/momo`, admin under `/admin/momo`)

Transfers answer 202 with an empty body; one callback per final status, signed with
Standard Webhooks, sent once and never retried. Magic numbers (last six digits of the
payee's partyId, any country):

"""

_REQUEST_TO_PAY_DESCRIPTION = """

## MTN MoMo collections: request to pay (payer's partyId, last six digits)

"""


_ISSUER_DESCRIPTION = """

## Card issuer and card network (`/issuer`, admin under `/admin/issuer`)

Cardholders pass a KYC check, then get cards whose numbers never leave the sandbox. A
purchase (`POST /admin/issuer/purchases`) makes the network ask the engine's
authorization URL synchronously, within a deadline; captures, reversals, expiries,
refunds and force posts become `card.transaction` webhooks, signed with Standard
Webhooks and retried. KYC magic values:

"""

_BANK_DESCRIPTION = """

## Bank transfers (`/bank`, admin under `/admin/bank`)

Refunds of cash orders: ACH/PSE-like transfers in COP or MXN to the payer's account,
idempotent by `external_id`. ACCEPTED, then SETTLED or RETURNED after
`settlement_delay_seconds` (a day by default), announced by `transfer.settled` /
`transfer.returned` webhooks signed with Standard Webhooks and retried. Magic account
numbers (last two digits of `beneficiary.account_number`):

"""

_MERCHANT_DESCRIPTION = """

## Merchant hooks (`/merchant`, admin under `/admin/merchant`)

A recorder standing in for a merchant: stock holds and releases of cash orders and
alerts, each once per `Idempotency-Key` (a repeat is recorded, nothing more).
"""

_CASH_DESCRIPTION = """

## Cash vouchers: Efecty (`/efecty`, Colombia) and OXXO (`/oxxo`, Mexico)

A voucher is paid in cash at a shop before it expires; the network confirms the payment
later (`confirmation_delay_seconds`) and notifies final states only (APPROVED, EXPIRED,
CANCELLED), retried. Efecty (PayU's EFECTY shape) takes whole COP and signs with
`X-Signature`; OXXO (Stripe's shape) takes MXN, signs with Standard Webhooks and its
notification carries no details. Admin under `/admin/efecty` and `/admin/oxxo`; a shop
payment is `POST /admin/<network>/vouchers/{voucher_reference}/payments` or `payments
sandbox pay-voucher REFERENCE`. Magic values (last two digits of the payer's document
number, both networks):

"""


def _include_settlements(app: FastAPI) -> None:
    """The daily settlement reports of every simulator the app runs, and their faults."""
    from payments_engine.sandbox.bank import settlements as bank_settlements
    from payments_engine.sandbox.efecty import settlements as efecty_settlements
    from payments_engine.sandbox.hub import settlements as hub_settlements
    from payments_engine.sandbox.issuer import settlements as issuer_settlements
    from payments_engine.sandbox.momo import settlements as momo_settlements
    from payments_engine.sandbox.oxxo import settlements as oxxo_settlements

    for name, module in (
        ("hub", hub_settlements),
        ("momo", momo_settlements),
        ("issuer", issuer_settlements),
        ("bank", bank_settlements),
        ("efecty", efecty_settlements),
        ("oxxo", oxxo_settlements),
    ):
        if name == "hub" or getattr(app.state, name) is not None:
            app.include_router(module.router, prefix=f"/{name}")
            app.include_router(module.admin_router, prefix=f"/admin/{name}")


def create_sandbox_app(
    config: SandboxConfig,
    webhook_client: httpx.AsyncClient | None = None,
    *,
    momo: MomoSandboxConfig | None = None,
    issuer: IssuerSandboxConfig | None = None,
    bank: BankSandboxConfig | None = None,
    merchant: MerchantSandboxConfig | None = None,
    efecty: EfectySandboxConfig | None = None,
    oxxo: OxxoSandboxConfig | None = None,
) -> FastAPI:
    """Build a sandbox app; its simulators' state hangs off ``app.state``.

    ``app.state.sandbox`` is the hub's state, ``app.state.momo`` MoMo's (None unless
    ``momo`` is given), ``app.state.issuer`` the card issuer's (None unless ``issuer``
    is given). Transfers are resolved and webhooks delivered by one background
    dispatcher per simulator, running for the app's lifespan; without the lifespan the
    APIs still answer, but nothing is sent (and the card network cannot authorize: it
    asks the engine through the lifespan's client). A simulator with a state file starts from it
    (transfers still pending resolve on their plans, pending webhooks are sent) and the
    lifespan's end closes it.

    Args:
        config: the hub's credentials, timings, webhook settings and floats.
        webhook_client: the client webhooks are POSTed with (tests pass one backed by
            ``httpx.MockTransport``); None to create one for the lifespan and close it
            afterwards. A given client is never closed here.
        momo: MoMo's configuration; None runs no MoMo simulator.
        issuer: the card issuer's configuration; None runs no card issuer simulator.
        bank: the bank-transfer simulator's configuration (``app.state.bank``); None
            runs none.
        merchant: the merchant-hooks recorder's configuration (``app.state.merchant``);
            None runs none.
        efecty: the Efecty cash network's configuration (``app.state.efecty``, under
            ``/efecty`` and ``/admin/efecty``); None runs none.
        oxxo: the OXXO cash network's configuration (``app.state.oxxo``, under ``/oxxo``
            and ``/admin/oxxo``); None runs none.

    Returns:
        The app, with ``GET /healthz``, the hub API under ``/hub``, its admin under
        ``/admin``; with ``momo``, MoMo under ``/momo`` and ``/admin/momo``; with
        ``issuer``, the card issuer under ``/issuer`` and ``/admin/issuer``.

    Raises:
        SandboxStateError: a state file is not a usable state file.
    """
    hub = SandboxState.create(HubStore(config))
    simulators: list[SimulatorState[Any, Any]] = [hub]
    try:
        momo_state = MomoState.create(MomoStore(momo)) if momo is not None else None
        if momo_state is not None:
            simulators.append(momo_state)
        issuer_state = IssuerState.create(IssuerStore(issuer)) if issuer is not None else None
        if issuer_state is not None:
            simulators.append(issuer_state)
        bank_state = BankState.create(BankStore(bank)) if bank is not None else None
        if bank_state is not None:
            simulators.append(bank_state)
        efecty_state = EfectyState.create(EfectyStore(efecty)) if efecty is not None else None
        if efecty_state is not None:
            simulators.append(efecty_state)
        oxxo_state = OxxoState.create(OxxoStore(oxxo)) if oxxo is not None else None
        if oxxo_state is not None:
            simulators.append(oxxo_state)
        merchant_state = MerchantState.create(merchant) if merchant is not None else None
    except BaseException:
        for simulator in simulators:
            simulator.store.close()
        raise

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        client = webhook_client or httpx.AsyncClient(timeout=config.webhook_timeout_seconds)
        dispatchers: list[WebhookDispatcher] = []
        for simulator in simulators:
            dispatcher: WebhookDispatcher
            if isinstance(simulator, IssuerState):
                # Card events are signed with their event id as the message id.
                dispatcher = issuer_dispatcher(simulator.store, simulator.config, client)
                # The network's authorization requests share the webhooks' client.
                simulator.client = client
            elif isinstance(simulator, OxxoState):
                # OXXO's events are signed with their event id as the message id.
                dispatcher = oxxo_dispatcher(simulator.store, simulator.config, client)
            else:
                dispatcher = simulator_dispatcher(simulator.store, simulator.config, client)
            simulator.dispatcher = dispatcher
            dispatchers.append(dispatcher)
        for dispatcher in dispatchers:
            dispatcher.start()
        try:
            yield
        finally:
            for simulator in simulators:
                simulator.dispatcher = None
                if isinstance(simulator, IssuerState):
                    simulator.client = None
            for dispatcher in dispatchers:
                await dispatcher.aclose()
            if webhook_client is None:
                await client.aclose()
            # Last: until the dispatchers have stopped, their deliveries record attempts.
            for simulator in simulators:
                simulator.store.close()
            if merchant_state is not None:
                merchant_state.store.close()

    description = (
        _DESCRIPTION
        + hub_table()
        + _COLLECTIONS_DESCRIPTION
        + collection_markdown_table()
        + _REFUNDS_DESCRIPTION
        + refund_markdown_table()
    )
    if momo_state is not None:
        description += (
            _MOMO_DESCRIPTION
            + momo_table()
            + _REQUEST_TO_PAY_DESCRIPTION
            + request_to_pay_markdown_table()
        )
    if issuer_state is not None:
        description += _ISSUER_DESCRIPTION + kyc_table()
    if bank_state is not None:
        description += _BANK_DESCRIPTION + bank_table()
    if merchant_state is not None:
        description += _MERCHANT_DESCRIPTION
    if efecty_state is not None or oxxo_state is not None:
        description += _CASH_DESCRIPTION + voucher_table()
    app = FastAPI(
        title="Payments sandbox: simulated payment providers",
        description=description,
        version="1",
        lifespan=lifespan,
    )
    app.state.sandbox = hub
    app.state.momo = momo_state
    app.state.issuer = issuer_state
    app.state.bank = bank_state
    app.state.merchant = merchant_state
    app.state.efecty = efecty_state
    app.state.oxxo = oxxo_state
    app.include_router(hub_api.router, prefix="/hub")
    if momo_state is not None:
        app.include_router(momo_api.router, prefix="/momo")
        app.include_router(momo_admin.router, prefix="/admin/momo")
    if issuer_state is not None:
        app.include_router(issuer_api.router, prefix="/issuer")
        app.include_router(issuer_admin.router, prefix="/admin/issuer")
    if bank_state is not None:
        app.include_router(bank_api.router, prefix="/bank")
        app.include_router(bank_admin.router, prefix="/admin/bank")
    if merchant_state is not None:
        app.include_router(merchant_api.router, prefix="/merchant")
        app.include_router(merchant_admin.router, prefix="/admin/merchant")
    if efecty_state is not None:
        app.include_router(efecty_api.router, prefix="/efecty")
        app.include_router(efecty_admin.router, prefix="/admin/efecty")
    if oxxo_state is not None:
        app.include_router(oxxo_api.router, prefix="/oxxo")
        app.include_router(oxxo_admin.router, prefix="/admin/oxxo")
    app.include_router(hub_admin.router, prefix="/admin")
    _include_settlements(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the app answers."""
        return {"status": "ok"}

    return app
