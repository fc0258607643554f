"""Machinery every simulated provider shares.

The base of every simulator's configuration (:mod:`.config`), fault injection
(:mod:`.faults`), the floats (:mod:`.floats`), the signed-webhook outbox with its retries
(:mod:`.outbox`) and the background dispatcher that resolves due transfers and delivers
webhooks (:mod:`.dispatcher`), generic persistence of JSON documents in a SQLite state
file (:mod:`.persistence`), what every transfer record has (:mod:`.records`), the base of
every provider's store (:mod:`.store`) and per-app state (:mod:`.state`), magic-number
scenarios (:mod:`.scenarios`), HTTP helpers for provider APIs (:mod:`.http`) and the
admin routes that are the same for every provider (:mod:`.admin`).

Nothing here knows a provider's wire shapes: those live in each provider's own folder
(``sandbox/hub``, ``sandbox/momo``).
"""
