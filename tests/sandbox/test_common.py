"""The shared machinery: the document state file, the outbox, import hygiene, old paths."""

from __future__ import annotations

import ast
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

import payments_engine.sandbox as sandbox_package
from payments_engine.sandbox.common.outbox import INTERRUPTED, Outbox
from payments_engine.sandbox.common.persistence import DocumentStore, Journal, SandboxStateError
from tests.sandbox.support import FakeClock

SANDBOX_ROOT = Path(sandbox_package.__file__).parent
SANDBOX_IMPORT = "payments_engine.sandbox"

# What the simulators may import from the engine: pure helpers and the signature schemes.
ALLOWED_ENGINE_MODULES = {
    "payments_engine.domain.errors",
    "payments_engine.domain.money",
    "payments_engine.domain.msisdn",
    "payments_engine.domain.webhooks",
    "payments_engine.runtime.settings",  # the command line only (__main__)
    "payments_engine.runtime.serving",  # the command line only: serving, no wire model
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_simulators_bring_their_own_wire_models() -> None:
    # The adapters' wire models must never be shared: a wrong field on both sides would pass.
    offending: dict[str, set[str]] = {}
    for path in sorted(SANDBOX_ROOT.rglob("*.py")):
        engine = {
            name
            for name in _imports(path)
            if name.startswith("payments_engine.")
            and not name.startswith("payments_engine.sandbox")
        }
        if bad := engine - ALLOWED_ENGINE_MODULES:
            offending[str(path.relative_to(SANDBOX_ROOT))] = bad
    assert offending == {}


def test_the_old_import_paths_still_work() -> None:
    from payments_engine.sandbox import (
        Faults,
        SandboxConfig,
        Scenario,
        create_sandbox_app,
        scenario_for,
    )
    from payments_engine.sandbox.app import create_sandbox_app as from_app
    from payments_engine.sandbox.config import DEFAULT_FLOAT_MINOR
    from payments_engine.sandbox.config import Faults as ConfigFaults
    from payments_engine.sandbox.config import SandboxConfig as ConfigSandboxConfig
    from payments_engine.sandbox.scenarios import Scenario as OldScenario
    from payments_engine.sandbox.scenarios import scenario_for as old_scenario_for

    assert create_sandbox_app is from_app
    assert (Faults, SandboxConfig, Scenario) == (ConfigFaults, ConfigSandboxConfig, OldScenario)
    assert scenario_for is old_scenario_for
    assert scenario_for("+254700000005") is Scenario.TIMEOUT_AFTER_ACCEPT
    assert DEFAULT_FLOAT_MINOR == 10**12


def test_documents_keep_their_order_and_providers_stay_apart(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state.db"
    hub, momo = DocumentStore(path, "hub"), DocumentStore(path, "momo")
    try:
        hub.save([("transfer", "a", {"n": 1}), ("transfer", "b", {"n": 2})])
        momo.save([("transfer", "a", {"other": True})])
        hub.save([("transfer", "a", {"n": 3}), ("float", "KES", {"amount": 5})])
        assert hub.load("transfer") == [("a", {"n": 3}), ("b", {"n": 2})]
        assert hub.load("float") == [("KES", {"amount": 5})]
        assert momo.load("transfer") == [("a", {"other": True})]
        momo.clear()
        assert momo.load("transfer") == []
        assert len(hub.load("transfer")) == 2
    finally:
        hub.close()
        momo.close()


def test_a_journal_writes_each_changed_record_once_as_it_ends_up(tmp_path: Path) -> None:
    db = DocumentStore(tmp_path / "state.db", "hub")
    try:
        journal = Journal(db)
        record = {"n": 1}
        journal.put("transfer", "a", lambda: dict(record))
        record["n"] = 2
        journal.put("transfer", "a", lambda: dict(record))
        assert db.load("transfer") == []  # nothing before the flush
        journal.flush()
        assert db.load("transfer") == [("a", {"n": 2})]
        journal.put("transfer", "b", lambda: {"n": 0})
        journal.discard()
        journal.flush()
        assert [key for key, _ in db.load("transfer")] == ["a"]
    finally:
        db.close()


@pytest.mark.parametrize("version", [1, 7])
def test_a_file_of_another_schema_is_refused(tmp_path: Path, version: int) -> None:
    path = tmp_path / "state.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {version}")
    # Version 1 is the hub's old layout: only the hub, which can import it, opens it.
    with pytest.raises(SandboxStateError, match="delete the file"):
        DocumentStore(path, "momo")


def _outbox(clock: FakeClock, delays: list[float], *, at_most_once: bool = False) -> Outbox:
    ids = iter(f"d{i}" for i in range(100))
    return Outbox(
        retry_delays=delays,
        journal=Journal(None),
        clock=clock,
        wall_clock=lambda: datetime(2024, 1, 1, tzinfo=UTC),
        new_id=lambda: next(ids),
        at_most_once=at_most_once,
    )


def test_copies_are_delivered_in_sequence() -> None:
    clock = FakeClock()
    outbox = _outbox(clock, [1.0])
    last = outbox.enqueue(reference="r", status="S", body=b"{}", url="u", copies=2)
    first = last.after
    assert first is not None and first.event_id == "d0" and last.event_id == "d1"
    assert outbox.claim_due() == [first]
    outbox.record_attempt(first, http_status=500, error="HTTP 500")
    assert outbox.claim_due() == []  # the copy waits until the first is done
    clock.now += 1
    assert outbox.claim_due() == [first]
    outbox.record_attempt(first, http_status=200, error=None)
    assert outbox.claim_due() == [last]


def test_an_outbox_without_delays_tries_once() -> None:
    clock = FakeClock()
    outbox = _outbox(clock, [])
    delivery = outbox.enqueue(reference="r", status="S", body=b"{}", url="u", event_id="e")
    assert delivery.event_id == "e"
    (claimed,) = outbox.claim_due()
    outbox.record_attempt(claimed, http_status=503, error="HTTP 503")
    clock.now += 1000
    assert outbox.claim_due() == []
    assert (delivery.attempts, delivery.gave_up) == (1, True)


def test_an_at_most_once_attempt_that_is_abandoned_counts_as_made() -> None:
    clock = FakeClock()
    retrying, once = _outbox(clock, [0.0]), _outbox(clock, [], at_most_once=True)
    for outbox in (retrying, once):
        outbox.enqueue(reference="r", status="S", body=b"{}", url="u")
        (delivery,) = outbox.claim_due()
        outbox.release(delivery)
    assert len(retrying.claim_due()) == 1
    assert once.claim_due() == []
    (entry,) = once.deliveries()
    assert (entry.attempts, entry.gave_up, entry.last_error) == (1, True, INTERRUPTED)
