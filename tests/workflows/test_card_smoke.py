"""CardWorkflow smoke: issue, fund, authorize, capture, terminate."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from payments_engine.domain.card import (
    AuthorizationRequest,
    CardResult,
    CardState,
    FundCardRequest,
    NetworkTransactionType,
)
from payments_engine.domain.events import ProviderEvent, TransferOutcome
from payments_engine.domain.money import Money
from payments_engine.workflows.card import CardWorkflow
from tests.workflows.card_support import CURRENCY, SHOP, card_bench


async def test_a_card_lives(env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with card_bench(env.client, tmp_path) as bench:
        await bench.fund_platform(100_000)
        handle = await bench.start("smoke1")
        view = await handle.execute_update(
            CardWorkflow.fund,
            FundCardRequest(reference="f1", amount=Money(amount=10_000, currency=CURRENCY)),
        )
        assert view.balance == 10_000
        # Funding may be answered before the issuer's card is issued; an authorization
        # before that is declined as inactive.
        await bench.settled(handle, lambda card: card.state is CardState.ACTIVE)
        decision = await handle.execute_update(
            CardWorkflow.authorize,
            AuthorizationRequest(
                authorization_id="auth1",
                amount=Money(amount=3_000, currency=CURRENCY),
                merchant=SHOP,
            ),
        )
        assert decision.approved and decision.approved_amount == 3_000
        token = bench.issuer.add("card-smoke1", NetworkTransactionType.CAPTURE, 3_000, "auth1")
        await handle.signal(
            CardWorkflow.provider_event,
            ProviderEvent(
                provider="issuer",
                event_id="evt1",
                reference="card-smoke1",
                outcome=TransferOutcome.CHANGED,
                provider_status="card.transaction",
                provider_transaction_id=token,
            ),
        )
        await handle.execute_update(CardWorkflow.terminate)
        result = await handle.result()
        assert isinstance(result, CardResult)
        assert result.card.state is CardState.TERMINATED
        assert result.card.captured == 3_000
        assert result.card.returned == 7_000
        await bench.assert_invariant(result.card)
