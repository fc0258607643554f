"""CardWorkflow: one prepaid virtual card for its whole life, ``card-{card_id}``.

States: ``pending_kyc -> active <-> frozen -> terminated``, and ``kyc_rejected``.

* Issue: the cardholder is registered at the issuer (KYC); a pending review ends with a
  webhook (confirmed by asking the issuer) or is polled. Once approved, the card is
  created: the engine keeps its token, last four and expiry, never its number.
* ``authorize`` (Update) decides from memory with :func:`~domain.card.decide` and answers
  at once; an approval places a hold on the balance. The ledger follows: the main loop
  posts the queued steps (hold, capture, release ...) in decision order, batched.
  A repeated authorization id gets the first answer again and places no second hold.
* Network events arrive as ``provider_event`` hints; each names an issuer transaction
  that the card reads from the issuer before it moves money (captures settle holds into
  spent, reversals and expiries release them, refunds credit the card). A capture
  without an open hold (a force post) or above it is applied and flagged, never lost.
  A hold neither captured nor reversed expires after seven days.
* Stand-ins: when the card could not answer in time the relay told the network
  "declined" and records it; its ``provider_event`` makes the card release any hold it
  placed for that authorization, so the card agrees with what the network was told. An
  ``authorize`` that reaches the card after the relay's ``respond_by`` is declined.
* ``fund`` moves money from the platform's available balance (validated and posted
  before the balance grows); ``set_limits``, ``freeze``, ``unfreeze``, ``terminate`` are
  Updates with validators, so a bad request is refused before it enters history.
  Terminating returns the balance to the platform once open holds are settled or expired.
* The card continues as new every few hundred events (or when the server suggests it),
  once every handler has finished, carrying its state (:class:`~domain.card.CardCarry`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from payments_engine.activities.cards import CardActivities
    from payments_engine.activities.ledger import LedgerActivities
    from payments_engine.domain import search_attributes as sa
    from payments_engine.domain.card import (
        HOLD_LIFETIME,
        KYC_EVENT,
        RECENT_TRANSACTIONS,
        STAND_IN_EVENT,
        TRANSACTION_EVENT,
        AuthorizationDecision,
        AuthorizationRequest,
        CardCarry,
        CardholderStatus,
        CardInput,
        CardLedgerBatch,
        CardLedgerStep,
        CardLedgerStepKind,
        CardLimits,
        CardResult,
        CardState,
        CardTransaction,
        CardView,
        CloseCardInput,
        CreateCardholderInput,
        CreateCardInput,
        DailyUsage,
        DeclineReason,
        FundCardRequest,
        GetCardholderInput,
        GetNetworkTransactionInput,
        Hold,
        KycStatus,
        LowBalanceNotice,
        NetworkTransaction,
        NetworkTransactionType,
        TransactionFlag,
        TransactionKind,
        decide,
    )
    from payments_engine.domain.errors import (
        CardStateConflict,
        CurrencyMismatch,
        ReferenceConflict,
    )
    from payments_engine.domain.events import ProviderEvent
    from payments_engine.domain.money import Money
    from payments_engine.workflows.common import failure_cause

ISSUER_TIMEOUT = timedelta(seconds=30)
ISSUER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
)
LEDGER_TIMEOUT = timedelta(seconds=30)
LEDGER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
KYC_POLL_INTERVAL = timedelta(minutes=10)
CONTINUE_AS_NEW_EVENTS = 500
"""Continue as new once the history has this many events (a few hundred authorizations)."""
RECENT_DECISIONS = 500
"""Decisions kept per run for answering retried authorizations (open holds' are kept too)."""
EVENTS_PER_PASS = 50
"""Network events verified per pass of the main loop, between continue-as-new checks."""
LEDGER_BATCH_STEPS = 200
"""Ledger steps posted by one activity at most."""
LEDGER_LINGER = timedelta(seconds=2)
"""A card that posted to the ledger less than this ago gathers new steps until this long
after that posting (or :data:`LEDGER_EAGER_STEPS` of them) and posts them together."""
LEDGER_EAGER_STEPS = 50
"""Queued steps that are posted at once, without lingering."""

RECENT_APPLIED = 2_000
"""Issuer transaction tokens remembered, so a repeated webhook is applied once."""


def _refused(error: type[Exception], message: str) -> ApplicationError:
    # Raised by a validator: the caller gets this type, and nothing enters history.
    error_type = getattr(error, "type", error.__name__)
    return ApplicationError(message, type=error_type, non_retryable=True)


@workflow.defn
class CardWorkflow:
    """One prepaid virtual card: KYC, issue, authorizations, funding, limits, events."""

    @workflow.init
    def __init__(self, inp: CardInput) -> None:
        """Restore the carried state, or start a new card, before any handler runs."""
        request = inp.request
        self._request = request
        carry = inp.carry
        now = workflow.now()
        if carry is None:
            carry = CardCarry(
                view=CardView(
                    card_id=request.card_id,
                    merchant_id=request.merchant_id,
                    provider=request.provider,
                    state=CardState.PENDING_KYC,
                    currency=request.currency,
                    balance=0,
                    held=0,
                    limits=request.limits,
                    today=DailyUsage(day=request.limits.day_of(now)),
                    low_balance_threshold=request.low_balance_threshold,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            carry.view.runs += 1
        self._carry = carry
        self._view = carry.view
        self._holds = carry.holds
        self._decisions = carry.decisions
        self._applied_order = carry.applied
        self._applied = set(carry.applied)
        self._pending_events = carry.pending_events
        self._ledger_queue = carry.ledger_queue
        self._alerts: list[LowBalanceNotice] = []
        self._kyc_news = False
        self._due = False
        self._last_posted_at: datetime | None = None
        self._funding: dict[str, int] = {}
        """Funding references being posted now, with their amounts."""
        self._seen_events: set[str] = set()

    # ----------------------------------------------------------------- run

    @workflow.run
    async def run(self, inp: CardInput) -> CardResult:
        """Issue the card, then serve it until it is terminated and its holds are closed."""
        if inp.carry is None:
            await self._issue()
        if self._view.state is CardState.KYC_REJECTED:
            # Anything funded during the review goes back to the platform.
            await self._close()
            return CardResult(card=self._snapshot())
        # One timer for the next expiry, not one per wake-up: a busy card would otherwise
        # start and cancel a timer for every authorization.
        self._alarm_task = asyncio.create_task(self._alarm())
        while True:
            # Also wake for a long history: declines alone add events but no work.
            await workflow.wait_condition(
                lambda: self._has_work() or self._due or self._should_continue()
            )
            linger = self._linger()
            if linger is not None:
                # A busy card gathers its holds into one ledger posting for a moment, so each
                # authorization does not cost an activity and a workflow task of its own.
                try:
                    await workflow.wait_condition(
                        lambda: (
                            not self._only_ledger_work()
                            or len(self._ledger_queue) >= LEDGER_EAGER_STEPS
                        ),
                        timeout=linger,
                    )
                except TimeoutError:
                    pass
            self._due = False
            await self._work()
            if self._carry.terminating and self._drained() and not self._open_holds():
                self._alarm_task.cancel()
                await self._close()
                return CardResult(card=self._snapshot())
            if self._should_continue():
                # Handlers still running (a funding's ledger step) finish in this run.
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._alerts:
                    workflow.continue_as_new(CardInput(request=self._request, carry=self._carry))

    async def _issue(self) -> None:
        """KYC the cardholder, then create the card at the issuer."""
        request = self._request
        holder = await workflow.execute_activity_method(
            CardActivities.create_cardholder,
            CreateCardholderInput(
                provider=request.provider,
                reference=request.workflow_id,
                cardholder=request.cardholder,
            ),
            start_to_close_timeout=ISSUER_TIMEOUT,
            retry_policy=ISSUER_RETRY,
        )
        while holder.kyc_status is KycStatus.PENDING_REVIEW and not self._carry.terminating:
            try:
                await workflow.wait_condition(
                    lambda: self._kyc_news or self._carry.terminating, timeout=KYC_POLL_INTERVAL
                )
            except TimeoutError:
                pass
            self._kyc_news = False
            holder = await self._ask_kyc(holder)
        if self._carry.terminating:
            return
        if holder.kyc_status is KycStatus.REJECTED:
            self._set_state(CardState.KYC_REJECTED)
            return
        card = await workflow.execute_activity_method(
            CardActivities.create_card,
            CreateCardInput(
                provider=request.provider,
                reference=request.workflow_id,
                cardholder_token=holder.token,
                currency=request.currency,
                expiry_months=request.expiry_months,
            ),
            start_to_close_timeout=ISSUER_TIMEOUT,
            retry_policy=ISSUER_RETRY,
        )
        self._view.card_token = card.token
        self._view.last_four = card.last_four
        self._view.expires_at = card.expires_at
        if self._view.state is CardState.PENDING_KYC:
            self._set_state(CardState.ACTIVE)

    async def _ask_kyc(self, holder: CardholderStatus) -> CardholderStatus:
        known = await workflow.execute_activity_method(
            CardActivities.get_cardholder,
            GetCardholderInput(provider=self._request.provider, token=holder.token),
            start_to_close_timeout=ISSUER_TIMEOUT,
            retry_policy=ISSUER_RETRY,
        )
        return holder if known is None else known

    def _has_work(self) -> bool:
        return bool(self._ledger_queue or self._pending_events or self._alerts) or (
            self._carry.terminating and not self._open_holds()
        )

    def _linger(self) -> timedelta | None:
        """How long to gather ledger steps before posting; None posts at once.

        A quiet card posts at once (the ledger agrees within moments); a card that posted
        less than :data:`LEDGER_LINGER` ago is busy, and waits out the rest of it.
        """
        if not self._only_ledger_work() or self._last_posted_at is None:
            return None
        remaining = self._last_posted_at + LEDGER_LINGER - workflow.now()
        return remaining if remaining > timedelta(0) else None

    def _only_ledger_work(self) -> bool:
        """Only ledger steps are waiting, and the run need not continue as new yet."""
        return (
            bool(self._ledger_queue)
            and not (self._pending_events or self._alerts or self._due or self._kyc_news)
            and not self._carry.terminating
            and not self._should_continue()
        )

    def _drained(self) -> bool:
        return not (self._ledger_queue or self._pending_events or self._alerts)

    def _should_continue(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= CONTINUE_AS_NEW_EVENTS
        )

    def _next_moment(self) -> datetime | None:
        """The next hold expiry or the card's own expiry; None while there is neither."""
        moments = [hold.expires_at for hold in self._holds.values() if hold.open_amount]
        expires_at = self._view.expires_at
        if expires_at is not None and not self._view.state.is_final:
            moments.append(expires_at)
        return min(moments) if moments else None

    def _earlier_than(self, moment: datetime) -> Callable[[], bool]:
        return lambda: (self._next_moment() or moment) < moment

    async def _alarm(self) -> None:
        """Wake the main loop at each expiry moment (it decides what is due)."""
        while True:
            moment = self._next_moment()
            if moment is None:
                await workflow.wait_condition(lambda: self._next_moment() is not None)
                continue
            delay = moment - workflow.now()
            if delay > timedelta(0):
                try:
                    # Cut short only when an earlier moment appears (a first hold).
                    await workflow.wait_condition(self._earlier_than(moment), timeout=delay)
                    continue
                except TimeoutError:
                    pass
            self._due = True
            # Once the loop has expired what was due, the next moment is later.
            await workflow.wait_condition(lambda: not self._due)
            if self._next_moment() == moment:
                # Nothing could be closed at that moment (the loop is busy): look again
                # in a second rather than spin.
                await workflow.sleep(timedelta(seconds=1))

    async def _work(self) -> None:
        """Expire what is due, verify queued events, then post and alert what is owed."""
        now = workflow.now()
        expires_at = self._view.expires_at
        if expires_at is not None and now >= expires_at and not self._view.state.is_final:
            workflow.logger.info("card %s expired: terminating", self._request.card_id)
            self._terminate()
        for hold in list(self._holds.values()):
            if hold.open_amount and now >= hold.expires_at:
                released = hold.open_amount
                self._release(hold, released, f"expire:{hold.authorization_id}")
                self._record(
                    CardTransaction(
                        id=f"expire:{hold.authorization_id}",
                        kind=TransactionKind.EXPIRY,
                        amount=released,
                        currency=self._view.currency,
                        at=now,
                        authorization_id=hold.authorization_id,
                    )
                )
        checked = 0
        # Bounded per pass, and carried into the next run once this one is long enough.
        while self._pending_events and checked < EVENTS_PER_PASS and not self._should_continue():
            checked += 1
            token = self._pending_events[0]
            txn = await workflow.execute_activity_method(
                CardActivities.get_network_transaction,
                GetNetworkTransactionInput(provider=self._request.provider, token=token),
                start_to_close_timeout=ISSUER_TIMEOUT,
                retry_policy=ISSUER_RETRY,
            )
            self._pending_events.pop(0)
            if token in self._applied:
                continue
            if txn is None or txn.token != token:
                workflow.logger.warning(
                    "card %s: issuer has no transaction %r; event ignored",
                    self._request.card_id,
                    token[:80],
                )
                continue
            self._apply(txn)
        await self._post_ledger()
        while self._alerts:
            await workflow.execute_activity_method(
                CardActivities.notify_low_balance,
                self._alerts[0],
                start_to_close_timeout=ISSUER_TIMEOUT,
                retry_policy=ISSUER_RETRY,
            )
            self._alerts.pop(0)

    async def _post_ledger(self, *, drain: bool = False) -> None:
        """Post the queued steps in decision order; new ones queue behind them meanwhile.

        Batches are bounded (one activity's time and payload stay small), and unless
        ``drain``, posting stops when the run should continue as new: the rest is carried.
        """
        while self._ledger_queue and (drain or not self._should_continue()):
            steps = self._ledger_queue[:LEDGER_BATCH_STEPS]
            try:
                await workflow.execute_activity_method(
                    LedgerActivities.post_card_entries,
                    self._ledger_batch(steps),
                    start_to_close_timeout=LEDGER_TIMEOUT,
                    retry_policy=LEDGER_RETRY,
                )
            except ActivityError as err:
                cause = failure_cause(err)
                # The card decided these from its own balance: a refusal is a bug, not an
                # outcome. Failing the task keeps the steps and retries once it is fixed.
                raise RuntimeError(
                    f"ledger refused card {self._request.card_id}'s steps: "
                    f"{cause.type if cause else err}"
                ) from err
            del self._ledger_queue[: len(steps)]
            self._last_posted_at = workflow.now()

    def _ledger_batch(self, steps: list[CardLedgerStep]) -> CardLedgerBatch:
        return CardLedgerBatch(
            card_id=self._request.card_id,
            merchant_id=self._request.merchant_id,
            provider=self._request.provider,
            currency=self._request.currency,
            steps=steps,
        )

    async def _close(self) -> None:
        """Return what is left to the platform and close the card at the issuer."""
        # A funding still being posted (accepted before the card closed) counts too.
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._post_ledger(drain=True)
        remaining = self._view.balance
        if remaining > 0:
            self._ledger_queue.append(
                CardLedgerStep(kind=CardLedgerStepKind.RETURN, key="terminate", amount=remaining)
            )
            self._view.balance = 0
            self._view.returned += remaining
            self._record(
                CardTransaction(
                    id="terminate",
                    kind=TransactionKind.BALANCE_RETURN,
                    amount=remaining,
                    currency=self._view.currency,
                    at=workflow.now(),
                )
            )
            await self._post_ledger(drain=True)
        if self._view.card_token is not None:
            await workflow.execute_activity_method(
                CardActivities.close_card,
                CloseCardInput(provider=self._request.provider, token=self._view.card_token),
                start_to_close_timeout=ISSUER_TIMEOUT,
                retry_policy=ISSUER_RETRY,
            )
        await workflow.wait_condition(workflow.all_handlers_finished)

    # ------------------------------------------------------- authorizations

    @workflow.update
    def authorize(self, request: AuthorizationRequest) -> AuthorizationDecision:
        """Approve (placing a hold) or decline a purchase, from the card's memory alone."""
        known = self._decisions.get(request.authorization_id)
        if known is not None:
            return known
        now = workflow.now()
        self._roll_day(now)
        view = self._view
        decision = decide(
            state=view.state,
            expires_at=view.expires_at,
            currency=view.currency,
            balance=view.balance,
            limits=view.limits,
            usage=view.today,
            request=request,
            now=now,
        )
        self._remember(decision)
        view.authorizations += 1
        if decision.approved:
            amount = decision.approved_amount
            self._holds[request.authorization_id] = Hold(
                authorization_id=request.authorization_id,
                amount=amount,
                placed_at=now,
                expires_at=now + HOLD_LIFETIME,
            )
            view.balance -= amount
            view.today.amount += amount
            view.today.count += 1
            self._ledger_queue.append(
                CardLedgerStep(
                    kind=CardLedgerStepKind.HOLD, key=request.authorization_id, amount=amount
                )
            )
            self._check_low_balance()
        else:
            view.declines += 1
        self._record(
            CardTransaction(
                id=request.authorization_id,
                kind=TransactionKind.AUTHORIZATION,
                amount=request.amount.amount,
                currency=request.amount.currency,
                at=now,
                approved=decision.approved,
                decline_reason=decision.decline_reason,
                authorization_id=request.authorization_id,
                merchant=request.merchant,
            )
        )
        return decision

    @authorize.validator
    def _validate_authorize(self, request: AuthorizationRequest) -> None:
        known = self._decisions.get(request.authorization_id)
        if known is not None and known.currency != request.amount.currency:
            raise _refused(
                ReferenceConflict,
                f"authorization {request.authorization_id} was decided in {known.currency}",
            )

    def _remember(self, decision: AuthorizationDecision) -> None:
        self._decisions[decision.authorization_id] = decision
        if len(self._decisions) > RECENT_DECISIONS:
            for key in list(self._decisions)[: len(self._decisions) - RECENT_DECISIONS]:
                if key not in self._holds:
                    del self._decisions[key]

    def _roll_day(self, now: datetime) -> None:
        day = self._view.limits.day_of(now)
        if self._view.today.day != day:
            self._view.today = DailyUsage(day=day)

    # ------------------------------------------------------------- events

    @workflow.signal
    def provider_event(self, event: ProviderEvent) -> None:
        """Take an issuer hint (or the relay's stand-in record); verified before money moves."""
        if event.event_id in self._seen_events or event.reference != self._request.workflow_id:
            return
        self._seen_events.add(event.event_id)
        token = event.provider_transaction_id
        if event.provider_status == KYC_EVENT:
            self._kyc_news = True
        elif event.provider_status == STAND_IN_EVENT and token:
            self._apply_stand_in(token, event.amount_minor, event.currency)
        elif event.provider_status == TRANSACTION_EVENT and token:
            if token not in self._applied and token not in self._pending_events:
                self._pending_events.append(token)

    def _apply_stand_in(
        self, authorization_id: str, amount: int | None, currency: str | None
    ) -> None:
        """The relay told the network "declined": make the card agree."""
        decision = AuthorizationDecision(
            authorization_id=authorization_id,
            approved=False,
            currency=self._view.currency,
            decline_reason=DeclineReason.ISSUER_TIMEOUT,
        )
        known = self._decisions.get(authorization_id)
        self._remember(decision)
        if known is None:
            # The card never saw the request: it is listed as the network saw it.
            self._view.authorizations += 1
            self._view.declines += 1
            self._record(
                CardTransaction(
                    id=authorization_id,
                    kind=TransactionKind.AUTHORIZATION,
                    amount=amount or 0,
                    currency=currency or self._view.currency,
                    at=workflow.now(),
                    approved=False,
                    decline_reason=DeclineReason.ISSUER_TIMEOUT,
                    authorization_id=authorization_id,
                )
            )
            return
        if not known.approved:
            return
        hold = self._holds.get(authorization_id)
        if hold is None:
            return
        workflow.logger.warning(
            "card %s: authorization %s approved after the relay's stand-in; hold released",
            self._request.card_id,
            authorization_id,
        )
        if hold.open_amount:
            self._release(hold, hold.open_amount, f"stand-in:{authorization_id}")
        if self._view.limits.day_of(hold.placed_at) == self._view.today.day:
            self._view.today.amount = max(self._view.today.amount - hold.amount, 0)
            self._view.today.count = max(self._view.today.count - 1, 0)
        self._view.declines += 1
        self._view.flagged += 1
        for txn in self._carry.transactions:
            if txn.id == authorization_id and txn.kind is TransactionKind.AUTHORIZATION:
                txn.approved = False
                txn.decline_reason = DeclineReason.ISSUER_TIMEOUT
                txn.flags.append(TransactionFlag.STAND_IN_AFTER_APPROVAL)

    def _apply(self, txn: NetworkTransaction) -> None:
        """Apply a network event the issuer's record confirmed."""
        view = self._view
        if txn.card_reference != self._request.workflow_id or txn.amount.currency != view.currency:
            workflow.logger.warning(
                "card %s: transaction %s is not this card's (%s); ignored",
                self._request.card_id,
                txn.token,
                "reference" if txn.card_reference != self._request.workflow_id else "currency",
            )
            self._mark_applied(txn.token)
            return
        amount = txn.amount.amount
        hold = self._holds.get(txn.authorization_id) if txn.authorization_id else None
        flags: list[TransactionFlag] = []
        if txn.type is NetworkTransactionType.CAPTURE:
            from_hold = min(amount, hold.open_amount) if hold is not None else 0
            if from_hold == 0:
                flags.append(TransactionFlag.FORCE_POST)
            elif amount > from_hold:
                flags.append(TransactionFlag.OVER_CAPTURE)
            if hold is not None:
                hold.captured += from_hold
                if not hold.open_amount:
                    # Closed: only its decision is kept (for retried requests), not the hold.
                    del self._holds[hold.authorization_id]
            view.balance -= amount - from_hold
            view.captured += amount
            self._ledger_queue.append(
                CardLedgerStep(
                    kind=CardLedgerStepKind.CAPTURE,
                    key=txn.token,
                    amount=amount,
                    from_hold=from_hold,
                )
            )
            if flags:
                view.flagged += 1
            self._check_low_balance()
        elif txn.type in (NetworkTransactionType.REVERSAL, NetworkTransactionType.EXPIRY):
            if hold is not None and hold.open_amount:
                release = hold.open_amount
                if txn.type is NetworkTransactionType.REVERSAL:
                    release = min(amount, release)
                self._release(hold, release, txn.token)
        elif txn.type is NetworkTransactionType.REFUND:
            view.balance += amount
            view.refunded += amount
            self._ledger_queue.append(
                CardLedgerStep(kind=CardLedgerStepKind.REFUND, key=txn.token, amount=amount)
            )
            self._rearm_low_balance()
        kind = {
            NetworkTransactionType.CAPTURE: TransactionKind.CAPTURE,
            NetworkTransactionType.REVERSAL: TransactionKind.REVERSAL,
            NetworkTransactionType.EXPIRY: TransactionKind.EXPIRY,
            NetworkTransactionType.REFUND: TransactionKind.REFUND,
        }[txn.type]
        self._record(
            CardTransaction(
                id=txn.token,
                kind=kind,
                amount=amount,
                currency=txn.amount.currency,
                at=workflow.now(),
                authorization_id=txn.authorization_id,
                merchant=txn.merchant,
                flags=flags,
            )
        )
        self._mark_applied(txn.token)

    def _release(self, hold: Hold, amount: int, key: str) -> None:
        hold.released += amount
        self._view.balance += amount
        self._ledger_queue.append(
            CardLedgerStep(kind=CardLedgerStepKind.RELEASE, key=key, amount=amount)
        )
        self._rearm_low_balance()
        if not hold.open_amount:
            # Closed: only its decision is kept (for retried requests), not the hold.
            del self._holds[hold.authorization_id]

    def _mark_applied(self, token: str) -> None:
        self._applied.add(token)
        self._applied_order.append(token)
        if len(self._applied_order) > RECENT_APPLIED:
            dropped = self._applied_order.pop(0)
            self._applied.discard(dropped)

    def _record(self, txn: CardTransaction) -> None:
        transactions = self._carry.transactions
        transactions.append(txn)
        if len(transactions) > RECENT_TRANSACTIONS:
            del transactions[: len(transactions) - RECENT_TRANSACTIONS]
        self._view.updated_at = workflow.now()
        self._show_details()

    def _show_details(self) -> None:
        """The Web UI's current details: the card in business terms, no personal data."""
        view = self._view

        def money(amount: int) -> str:
            return str(Money(amount=amount, currency=view.currency))

        held = sum(hold.open_amount for hold in self._holds.values())
        workflow.set_current_details(
            f"Card {view.card_id} ({view.provider}) — {view.state.value}:"
            f" balance {money(view.balance)}, held {money(held)};"
            f" {view.authorizations} authorizations, {view.declines} declined"
        )

    # ---------------------------------------------------------- low balance

    def _check_low_balance(self) -> None:
        threshold = self._view.low_balance_threshold
        if threshold is None or self._carry.low_balance_alerted or self._view.balance >= threshold:
            return
        self._carry.low_balance_alerted = True
        self._carry.low_balance_alerts += 1
        self._alerts.append(
            LowBalanceNotice(
                provider=self._request.provider,
                card_reference=self._request.workflow_id,
                balance=Money(amount=max(self._view.balance, 0), currency=self._view.currency),
                threshold=threshold,
                idempotency_key=(
                    f"{self._request.workflow_id}:low-balance:{self._carry.low_balance_alerts}"
                ),
            )
        )

    def _rearm_low_balance(self) -> None:
        threshold = self._view.low_balance_threshold
        if threshold is not None and self._view.balance >= threshold:
            self._carry.low_balance_alerted = False

    # ------------------------------------------------------ platform updates

    @workflow.update
    async def fund(self, request: FundCardRequest) -> CardView:
        """Move money from the platform's balance onto the card, once per reference."""
        reference = request.reference
        # A concurrent repeat waits for the first, then answers as it did. A loop: repeats
        # woken in one activation must not all go past the first one's claim.
        while reference in self._funding:
            await workflow.wait_condition(lambda: reference not in self._funding)
        credited = self._carry.fundings.get(reference)
        if credited is not None:
            if credited != request.amount.amount:
                raise _refused(
                    ReferenceConflict,
                    f"funding {reference} was already credited with another amount",
                )
            return self._snapshot()
        self._funding[reference] = request.amount.amount
        try:
            await workflow.execute_activity_method(
                LedgerActivities.post_card_entries,
                self._ledger_batch(
                    [
                        CardLedgerStep(
                            kind=CardLedgerStepKind.FUND,
                            key=reference,
                            amount=request.amount.amount,
                        )
                    ]
                ),
                start_to_close_timeout=LEDGER_TIMEOUT,
                retry_policy=LEDGER_RETRY,
            )
        except ActivityError as err:
            cause = failure_cause(err)
            if cause is None:
                raise
            # Nothing moved: the platform's balance could not cover it (or the like).
            raise ApplicationError(cause.message, type=cause.type, non_retryable=True) from None
        finally:
            del self._funding[reference]
        self._carry.fundings[reference] = request.amount.amount
        self._view.balance += request.amount.amount
        self._view.funded += request.amount.amount
        self._rearm_low_balance()
        self._record(
            CardTransaction(
                id=reference,
                kind=TransactionKind.FUNDING,
                amount=request.amount.amount,
                currency=request.amount.currency,
                at=workflow.now(),
            )
        )
        return self._snapshot()

    @fund.validator
    def _validate_fund(self, request: FundCardRequest) -> None:
        self._refuse_when_closed("fund")
        if request.amount.currency != self._view.currency:
            raise _refused(
                CurrencyMismatch,
                f"the card is in {self._view.currency}, not {request.amount.currency}",
            )
        known = self._carry.fundings.get(request.reference, self._funding.get(request.reference))
        if known is not None and known != request.amount.amount:
            raise _refused(
                ReferenceConflict,
                f"funding {request.reference} was already credited with another amount",
            )

    @workflow.update
    def set_limits(self, limits: CardLimits) -> CardView:
        """Replace the card's spending controls; today's usage counts against the new ones."""
        now = workflow.now()
        # A day that ended under the old limits ends; a new day offset only renames the
        # current day: what was spent so far today still counts against the new limits.
        self._roll_day(now)
        self._view.limits = limits
        self._view.today.day = limits.day_of(now)
        self._view.updated_at = workflow.now()
        return self._snapshot()

    @set_limits.validator
    def _validate_set_limits(self, limits: CardLimits) -> None:
        self._refuse_when_closed("change the limits of")

    @workflow.update
    def freeze(self) -> CardView:
        """Decline every authorization until unfrozen."""
        self._set_state(CardState.FROZEN)
        return self._snapshot()

    @freeze.validator
    def _validate_freeze(self) -> None:
        self._refuse_when_closed("freeze")
        if self._view.state is CardState.PENDING_KYC:
            raise _refused(CardStateConflict, "the card is not active yet (KYC pending)")

    @workflow.update
    def unfreeze(self) -> CardView:
        """Authorize again."""
        self._set_state(CardState.ACTIVE)
        return self._snapshot()

    @unfreeze.validator
    def _validate_unfreeze(self) -> None:
        self._refuse_when_closed("unfreeze")
        if self._view.state is not CardState.FROZEN:
            raise _refused(CardStateConflict, f"the card is {self._view.state.value}, not frozen")

    @workflow.update
    def terminate(self) -> CardView:
        """End the card for good; its balance returns once its holds are closed."""
        self._terminate()
        return self._snapshot()

    @terminate.validator
    def _validate_terminate(self) -> None:
        self._refuse_when_closed("terminate")

    def _terminate(self) -> None:
        self._carry.terminating = True
        self._set_state(CardState.TERMINATED)

    def _refuse_when_closed(self, action: str) -> None:
        state = self._view.state
        if state.is_final or self._carry.terminating:
            raise _refused(
                CardStateConflict,
                f"cannot {action} card {self._request.card_id}: it is {state.value}",
            )

    def _set_state(self, state: CardState) -> None:
        if self._view.state is state:
            return
        workflow.logger.info(
            "card %s: %s -> %s", self._request.card_id, self._view.state.value, state.value
        )
        self._view.state = state
        self._view.updated_at = workflow.now()
        self._show_details()
        # The client registers every search attribute at start; a card started without
        # them (the time-skipping test server cannot define custom ones) keeps none.
        if sa.PAYMENT_STATUS in workflow.info().typed_search_attributes:
            workflow.upsert_search_attributes([sa.PAYMENT_STATUS.value_set(state.value)])

    # -------------------------------------------------------------- queries

    @workflow.query
    def get_card(self) -> CardView:
        """The card now: state, balance, holds, limits, today's usage (no personal data)."""
        return self._snapshot()

    @workflow.query
    def get_transactions(self) -> list[CardTransaction]:
        """The card's recent transactions, oldest first."""
        return list(self._carry.transactions)

    def _open_holds(self) -> list[Hold]:
        return [hold for hold in self._holds.values() if hold.open_amount]

    def _snapshot(self) -> CardView:
        open_holds = self._open_holds()
        today = self._view.today
        day = self._view.limits.day_of(workflow.now())
        # Queries must not change state: a new day is shown, not rolled.
        return self._view.model_copy(
            update={
                "held": sum(hold.open_amount for hold in open_holds),
                "open_holds": len(open_holds),
                "today": today if today.day == day else DailyUsage(day=day),
            },
            deep=True,
        )
