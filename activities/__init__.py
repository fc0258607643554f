"""Activities: every side effect of the engine, each safe to run more than once.

Temporal runs an activity at least once, so each one is idempotent by a business key:
provider calls carry our reference, ledger entries an idempotency key derived from the
business id. Business failures are raised as non-retryable ``ApplicationError`` with the
domain error's stable ``type``; anything else is transient and Temporal retries it.

Modules:
    hub: the mobile-wallet hub adapter (submit a payout, ask for its status).
    ledger: payout ledger steps (reserve, settle, release) on the double-entry ledger.
"""
