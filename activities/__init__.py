"""Activities: every side effect of the engine, each safe to run more than once.

Temporal runs an activity at least once, so each one is idempotent by a business key:
provider calls carry our reference, ledger entries an idempotency key derived from the
business id. Business failures are raised as non-retryable ``ApplicationError`` with the
domain error's stable ``type``; anything else is transient and Temporal retries it.

Modules:
    payouts: the generic payout activities (submit, status) over any provider.
    providers: the provider plugins and their registry.
    ledger: payout ledger steps (reserve, settle, release) on the double-entry ledger.
"""
