"""Record workflow histories on the real stack, for the replay tests.

Run ``python -m tests.workflows.record_histories <version> [momo | recheck | collections |
cards | cash]``
when a workflow's commands change on purpose (behind ``workflow.patched``), or for a new
path (``momo``: the MoMo provider's; ``collections``: CollectionWorkflow and
RefundWorkflow; ``cards``: CardWorkflow; ``cash``: CashOrderWorkflow and its bank-transfer
refunds): it adds histories of the current code beside
the old ones, which must all keep replaying. Never regenerate an old history to make a
replay test pass: that hides the non-determinism it exists to catch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from payments_engine.activities.providers.hub.wire import PROVIDER_NAME
from payments_engine.domain.collection import CollectionRequest
from payments_engine.domain.ledger import FundMerchantInput
from payments_engine.domain.money import Money
from payments_engine.domain.payout import PayoutRequest, PayoutStatus, ResolvePayout
from payments_engine.domain.refund import RefundRequest
from payments_engine.domain.webhooks import SIGNATURE_HEADER, sign
from payments_engine.sandbox.scenarios import Scenario
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import (
    EngineStack,
    engine_stack,
    local_temporal,
    throwaway_settings,
)

HERE = Path(__file__).parent / "histories"
log = logging.getLogger("record_histories")


def _request(name: str, merchant: str, scenario: Scenario, **extra: object) -> PayoutRequest:
    number = f"+254700{scenario.suffix}" if scenario.suffix else "+254712345678"
    return PayoutRequest.model_validate(
        {
            "payout_id": f"history-{name}",
            "merchant_id": merchant,
            "amount": Money(amount=1_500_00, currency="KES"),
            "recipient_msisdn": number,
            "country": "KE",
            **extra,
        }
    )


async def _forge(stack: EngineStack, reference: str, status: str, **fields: Any) -> None:
    """Send the relay a correctly signed hub callback that the hub never sent."""
    async with httpx.AsyncClient(base_url=stack.sandbox_url) as sandbox:
        while (await sandbox.get(f"/admin/transfers/{reference}")).status_code != 200:
            await asyncio.sleep(0.1)
        transfer = (await sandbox.get(f"/admin/transfers/{reference}")).json()
    body = json.dumps(
        {
            "eventId": f"evt-forged-{reference}-{status}",
            "type": "transactionStatus",
            "thirdPartyTransId": reference,
            "transactionId": transfer["transactionId"],
            "status": status,
            "currency": "KES",
            "sendAmount": "1500.00",
            "receiveAmount": "1500.00",
            "timestamp": "2026-11-24T10:00:00Z",
            **fields,
        }
    ).encode()
    assert stack.settings.provider("hub").webhook_secret is not None
    secret = stack.settings.provider("hub").webhook_secret.get_secret_value()
    async with httpx.AsyncClient(base_url=stack.relay.url) as relay:
        answer = await relay.post(
            f"/webhooks/{PROVIDER_NAME}",
            content=body,
            headers={SIGNATURE_HEADER: sign(secret, int(time.time()), body)},
        )
        answer.raise_for_status()


async def _until(payments: PaymentsClient, payout_id: str, status: str) -> None:
    while (await payments.get_payout(payout_id)).status.value != status:
        await asyncio.sleep(0.2)


def _momo_request(name: str, number: str) -> PayoutRequest:
    return PayoutRequest(
        payout_id=f"history-momo-{name}",
        merchant_id="rich",
        amount=Money(amount=1_500_00, currency="KES"),
        recipient_msisdn=number,
        country="KE",
        provider="momo",
    )


MOMO_RUNS = {
    "momo-succeeded-by-callback": _momo_request("ok", "+254712345678"),
    "momo-failed-payee-not-found": _momo_request("payee", "+254700123450"),
    # No callback: the first status poll (30 s) finds the payment.
    "momo-callback-lost-found-by-polling": _momo_request("lost", "+254700123456"),
}


RECHECK_RUNS = {
    # No callback; an operator's recheck finds the payment before the first poll.
    "momo-recheck-finds-silent-payment": _momo_request("recheck", "+254700123456"),
}


async def _recheck_paths(
    stack: EngineStack, payments: PaymentsClient, runs: dict[str, PayoutRequest]
) -> None:
    """Recheck each run once its provider shows the transfer paid."""
    async with httpx.AsyncClient(base_url=f"{stack.sandbox_url}/admin/momo") as admin:
        for request in runs.values():
            path = f"/transfers/by-external-id/{request.workflow_id}"
            while not any(t["status"] == "SUCCESSFUL" for t in (await admin.get(path)).json()):
                await asyncio.sleep(0.2)
            await payments.recheck_payout(request.payout_id)


async def record(version: str, only_momo: bool = False, only_recheck: bool = False) -> None:
    """Run one payout per interesting path and write each history as JSON.

    Args:
        version: the label in the file names (the workflow's patch generation).
        only_momo: record only the MoMo provider's paths (added with the registry).
    """
    with tempfile.TemporaryDirectory() as tmp:
        # Unencrypted: a throwaway key would make the recording unreadable later.
        async with await local_temporal(encrypt=False) as env:
            settings = throwaway_settings(
                env.client, f"sqlite+aiosqlite:///{tmp}/ledger.db", sandbox_settle_seconds=0.2
            )
            async with engine_stack(settings, env.client) as stack:
                payments = PaymentsClient(env.client, settings.task_queue, stack.ledger)
                await stack.ledger.fund_merchant(
                    FundMerchantInput(
                        merchant_id="rich",
                        amount=Money(amount=10**9, currency="KES"),
                        reference="history-funding",
                    )
                )
                runs = {
                    "succeeded-by-webhook": _request("ok", "rich", Scenario.SUCCESS),
                    "failed-wallet-closed": _request("closed", "rich", Scenario.WALLET_CLOSED),
                    "failed-invalid-number": _request("invalid", "rich", Scenario.INVALID_NUMBER),
                    "failed-merchant-funds": _request("poor", "poor", Scenario.SUCCESS),
                    "needs-review-resolved": _request(
                        "review", "rich", Scenario.NEVER_RESOLVES, resolution_deadline_seconds=2
                    ),
                    # Verified events: a success webhook the hub contradicts, then the
                    # hub really pays; a webhook for another amount, then an operator.
                    "contradicted-then-paid": _request(
                        "contradicted", "rich", Scenario.NEVER_RESOLVES
                    ),
                    "mismatch-then-operator": _request("mismatch", "rich", Scenario.NEVER_RESOLVES),
                }
                if only_momo:
                    runs = dict(MOMO_RUNS)
                if only_recheck:
                    runs = dict(RECHECK_RUNS)
                for request in runs.values():
                    await payments.create_payout(request)
                if only_recheck:
                    await _recheck_paths(stack, payments, runs)
                elif not only_momo:
                    await _hub_paths(stack, payments, runs)
                for name, request in runs.items():
                    await payments.wait_payout(request.payout_id)
                    handle = env.client.get_workflow_handle(request.workflow_id)
                    history = await handle.fetch_history()
                    path = HERE / f"payout-{version}-{name}.json"
                    path.write_text(history.to_json())
                    log.info("wrote %s", path)


async def _hub_paths(
    stack: EngineStack, payments: PaymentsClient, runs: dict[str, PayoutRequest]
) -> None:
    """Drive the hub runs that need an operator or a forged webhook."""
    review = runs["needs-review-resolved"]
    while (await payments.get_payout(review.payout_id)).status.value != "needs_review":
        await asyncio.sleep(0.2)
    await payments.resolve_payout(
        review.payout_id,
        ResolvePayout(outcome=PayoutStatus.FAILED, note="checked with the hub"),
    )

    contradicted = runs["contradicted-then-paid"]
    await _until(payments, contradicted.payout_id, "submitted")
    await _forge(stack, contradicted.workflow_id, "MR101")
    await _until(payments, contradicted.payout_id, "needs_review")
    async with httpx.AsyncClient(base_url=stack.sandbox_url) as sandbox:
        forced = await sandbox.post(
            f"/admin/transfers/{contradicted.workflow_id}/resolve",
            json={"status": "MR101"},
        )
        forced.raise_for_status()

    mismatch = runs["mismatch-then-operator"]
    await _until(payments, mismatch.payout_id, "submitted")
    await _forge(stack, mismatch.workflow_id, "MR101", sendAmount="1.00", receiveAmount="1.00")
    await _until(payments, mismatch.payout_id, "needs_review")
    await payments.resolve_payout(
        mismatch.payout_id,
        ResolvePayout(outcome=PayoutStatus.FAILED, note="hub: never paid"),
    )


async def record_collections(version: str) -> None:
    """Record CollectionWorkflow and RefundWorkflow paths (``collection-*``, ``refund-*``)."""
    with tempfile.TemporaryDirectory() as tmp:
        async with await local_temporal(encrypt=False) as env:
            settings = throwaway_settings(
                env.client,
                f"sqlite+aiosqlite:///{tmp}/ledger.db",
                sandbox_settle_seconds=0.2,
                sandbox_late_success_seconds=2.0,
            )
            async with engine_stack(settings, env.client) as stack:
                payments = PaymentsClient(env.client, settings.task_queue, stack.ledger)
                collections = {
                    "succeeded-by-webhook": "+254712345678",
                    "payer-declined": "+254700000011",
                    "expired-cancelled": "+254700000012",
                    "paid-after-expiry": "+254700000013",
                }
                for name, number in collections.items():
                    request = CollectionRequest(
                        collection_id=f"history-{name}",
                        merchant_id="shop",
                        amount=Money(amount=1_500_00, currency="KES"),
                        payer_msisdn=number,
                        country="KE",
                        approval_window_seconds=3,
                    )
                    await payments.collections.create(request)
                    await payments.collections.wait(request.collection_id)
                    await _write(env.client, request.workflow_id, f"collection-{version}-{name}")
                refunds = {"processed": "400.00", "failed": "4.91", "reversed": "4.92"}
                for name, amount in refunds.items():
                    refund = RefundRequest(
                        refund_id=f"history-{name}",
                        original_id="history-succeeded-by-webhook",
                        merchant_id="shop",
                        amount=Money.from_major(amount, "KES"),
                        reason="history",
                        reversal_watch_seconds=10 if name == "reversed" else 1,
                    )
                    await payments.refunds.create(refund)
                    # The workflow's end, reversal watch included, not just "processed".
                    await env.client.get_workflow_handle(refund.workflow_id).result()
                    await _write(env.client, refund.workflow_id, f"refund-{version}-{name}")


async def record_cards(version: str) -> None:
    """Record CardWorkflow paths (``card-*``): a whole life, a KYC refusal, a continue-as-new.

    The cardholders are made up: these histories are written without payload encryption.
    """
    from payments_engine.domain.card import (
        Cardholder,
        CardState,
        FundCardRequest,
        IdDocument,
        IssueCardRequest,
        StandIn,
    )
    from payments_engine.workflows.card import CardWorkflow

    def issue(card_id: str, document: str) -> IssueCardRequest:
        return IssueCardRequest(
            card_id=card_id,
            merchant_id="shop",
            currency="KES",
            cardholder=Cardholder(
                first_name="History",
                last_name="Holder",
                date_of_birth="1990-01-01",  # type: ignore[arg-type]
                id_document=IdDocument(type="national_id", number=document),
                country="KE",
            ),
            low_balance_threshold=50_00,
        )

    with tempfile.TemporaryDirectory() as tmp:
        async with await local_temporal(encrypt=False) as env:
            settings = throwaway_settings(env.client, f"sqlite+aiosqlite:///{tmp}/ledger.db")
            async with (
                engine_stack(
                    settings, env.client, sandbox_overrides={"kyc_review_seconds": 0.5}
                ) as stack,
                httpx.AsyncClient(base_url=f"{stack.sandbox_url}/admin/issuer") as network,
            ):
                payments = PaymentsClient(env.client, settings.task_queue, stack.ledger)
                await stack.ledger.fund_merchant(
                    FundMerchantInput(
                        merchant_id="shop",
                        amount=Money(amount=10_000_000, currency="KES"),
                        reference="history-cards",
                    )
                )

                async def active(card_id: str) -> None:
                    while (await payments.cards.get(card_id)).state is not CardState.ACTIVE:
                        await asyncio.sleep(0.1)

                async def buy(card_id: str, amount: int) -> str:
                    response = await network.post(
                        "/purchases", json={"card": card_id, "amount": amount}
                    )
                    response.raise_for_status()
                    return str(response.json()["authorization_id"])

                # A whole life: review, funding, purchases, events, a stand-in, controls.
                life = issue("history-life", "12340002")
                await payments.cards.issue(life)
                await active(life.card_id)
                await payments.cards.fund(
                    life.card_id,
                    FundCardRequest(reference="f1", amount=Money(amount=100_00, currency="KES")),
                )
                first = await buy(life.card_id, 30_00)
                await buy(life.card_id, 1_000_00)
                second = await buy(life.card_id, 10_00)
                await network.post(f"/authorizations/{first}/captures", json={"amount": 20_00})
                await network.post(f"/authorizations/{first}/reversals")
                await network.post(f"/cards/{life.card_id}/refunds", json={"amount": 5_00})
                await network.post(f"/cards/{life.card_id}/force-captures", json={"amount": 1_00})
                await env.client.get_workflow_handle(life.workflow_id).signal(
                    CardWorkflow.provider_event,
                    StandIn(card_reference=life.workflow_id, authorization_id=second).event(
                        "issuer"
                    ),
                )
                await payments.cards.freeze(life.card_id)
                await buy(life.card_id, 1_00)
                await payments.cards.unfreeze(life.card_id)
                await asyncio.sleep(1.0)
                await payments.cards.terminate(life.card_id)
                await env.client.get_workflow_handle(life.workflow_id).result()
                await _write(env.client, life.workflow_id, f"card-{version}-life")

                rejected = issue("history-rejected", "12340003")
                await payments.cards.issue(rejected)
                await env.client.get_workflow_handle(rejected.workflow_id).result()
                await _write(env.client, rejected.workflow_id, f"card-{version}-kyc-rejected")

                # Enough authorizations for the first run to continue as new.
                busy = issue("history-busy", "12345678")
                await payments.cards.issue(busy)
                await active(busy.card_id)
                await payments.cards.fund(
                    busy.card_id,
                    FundCardRequest(reference="f1", amount=Money(amount=1_000_00, currency="KES")),
                )
                handle = env.client.get_workflow_handle(busy.workflow_id)
                first_run = (await handle.describe()).run_id
                while (await payments.cards.get(busy.card_id)).runs == 1:
                    await buy(busy.card_id, 1_00)
                history = await env.client.get_workflow_handle(
                    busy.workflow_id, run_id=first_run
                ).fetch_history()
                path = HERE / f"card-{version}-continued-as-new.json"
                path.write_text(history.to_json())
                log.info("wrote %s", path)


async def record_cash(version: str) -> None:
    """Record CashOrderWorkflow paths (``cash-order-*``) on the real stack, their refunds by
    bank transfer (``refund-*-cash-*``), and a settlement timer on the time-skipping server.

    The payers are made up: these histories are written without payload encryption.
    """
    from payments_engine.domain.bank import AccountType, BankAccount, DocumentType
    from payments_engine.domain.cash import CashOrderRequest, CashOrderStatus, Payer

    overrides = {
        "voucher_lifetime_seconds": 3.0,
        "shop_payment_delay_seconds": 0.2,
        "confirmation_delay_seconds": 0.3,
        "late_payment_seconds": 1.0,
        "settlement_delay_seconds": 0.5,
        "tick_seconds": 0.02,
    }
    orders = {
        "efecty-paid": ("efecty", "01"),
        "oxxo-expired": ("oxxo", "02"),
        "efecty-paid-after-expiry": ("efecty", "04"),
        "efecty-cancel-refused": ("efecty", "07"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        async with await local_temporal(encrypt=False) as env:
            settings = throwaway_settings(env.client, f"sqlite+aiosqlite:///{tmp}/ledger.db")
            async with engine_stack(settings, env.client, sandbox_overrides=overrides) as stack:
                payments = PaymentsClient(env.client, settings.task_queue, stack.ledger)
                for name, (network, magic) in orders.items():
                    colombian = network == "efecty"
                    request = CashOrderRequest(
                        order_id=f"history-{name}",
                        merchant_id="shop",
                        amount=Money.from_major(
                            "150000" if colombian else "1234.50", "COP" if colombian else "MXN"
                        ),
                        country="CO" if colombian else "MX",
                        provider=network,
                        payer=Payer(
                            name="History Payer",
                            document_type=DocumentType.CC if colombian else DocumentType.CURP,
                            document_number=(
                                f"10203040{magic}" if colombian else f"RUAA800101MDFZNN{magic}"
                            ),
                        ),
                        first_poll_seconds=1,
                        max_poll_seconds=2,
                        late_payment_watch_seconds=6,
                        settlement_business_days=0,
                    )
                    await payments.cash_orders.create(request)
                    await env.client.get_workflow_handle(request.workflow_id).result()
                    await _write(env.client, request.workflow_id, f"cash-order-{version}-{name}")
                view = await payments.cash_orders.get("history-efecty-paid")
                assert view.status is CashOrderStatus.SETTLED
                for name, ending in {"processed": "11", "returned": "09"}.items():
                    refund = payments.cash_orders.refund_request(
                        "history-efecty-paid",
                        refund_id=f"history-cash-{name}",
                        amount=Money.from_major("50000", "COP"),
                        reason="history",
                        bank_account=BankAccount(
                            bank_code="007",
                            account_type=AccountType.SAVINGS,
                            account_number=f"12345678{ending}",
                            document_type=DocumentType.CC,
                            document_number="1020304050",
                            holder_name="History Payer",
                            country="CO",
                        ),
                        merchant_id="shop",
                    ).model_copy(update={"reversal_watch_seconds": 1})
                    await payments.refunds.create(refund)
                    await env.client.get_workflow_handle(refund.workflow_id).result()
                    await _write(env.client, refund.workflow_id, f"refund-{version}-cash-{name}")
    await _record_cash_settlement_timer(version)


async def _record_cash_settlement_timer(version: str) -> None:
    """A cash order paid on a Friday and settled after its business-day timer (time-skipping)."""
    from datetime import datetime as wall
    from datetime import timedelta

    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from tests.helpers import venv_binary
    from tests.workflows import test_cash_order_workflow as cash

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/ledger.db"
        from payments_engine.db.ledger import Ledger
        from payments_engine.db.migrate import upgrade
        from payments_engine.db.session import create_engine, session_factory

        await upgrade(url)
        engine = create_engine(url)
        try:
            async with await WorkflowEnvironment.start_time_skipping(
                data_converter=pydantic_data_converter,
                test_server_existing_path=venv_binary("temporal-test-server"),
            ) as env:
                now = await env.get_current_time()
                friday = cash._friday_before_a_plain_week(now.astimezone(cash.BOGOTA).date())
                payment = wall.combine(friday, wall.min.time(), tzinfo=cash.BOGOTA)
                await env.sleep(payment + timedelta(hours=15) - now)
                network = cash.Network(paid_after=timedelta(minutes=20))
                run = cash.Run(env, network, Ledger(session_factory(engine)))
                request = cash.order(order_id="history-settled-after-weekend")
                async with run.worker():
                    handle = await run.start(request)
                    await handle.result()
                await _write(env.client, request.workflow_id, f"cash-order-{version}-settled-timer")
        finally:
            await engine.dispose()


async def _write(client: Client, workflow_id: str, name: str) -> None:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    path = HERE / f"{name}.json"
    path.write_text(history.to_json())
    log.info("wrote %s", path)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    # python -m tests.workflows.record_histories v2 [momo | recheck | collections]
    label = sys.argv[1] if len(sys.argv) > 1 else "v1"
    if "collections" in sys.argv[2:]:
        asyncio.run(record_collections(label))
    elif "cards" in sys.argv[2:]:
        asyncio.run(record_cards(label))
    elif "cash" in sys.argv[2:]:
        asyncio.run(record_cash(label))
    else:
        asyncio.run(
            record(
                label,
                only_momo="momo" in sys.argv[2:],
                only_recheck="recheck" in sys.argv[2:],
            )
        )
