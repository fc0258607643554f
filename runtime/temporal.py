"""Temporal connections, and the SDK runtime under them, for every process of the engine.

Every entry point (the ``payments`` commands, ``payments dev``, ``payments worker``,
``payments relay``) runs its coroutine with :func:`run` instead of :func:`asyncio.run`,
and every client comes from :func:`connect`. :func:`run` owns the process's Temporal
:class:`~temporalio.runtime.Runtime` and shuts it down before the event loop closes and
long before the interpreter finalizes.

Why (temporalio/sdk-python#300): the runtime is a Rust (Tokio) thread pool, and those
threads call into Python. Every result of the SDK (an RPC reply, a worker poll) is handed
to asyncio by a Tokio blocking-pool thread that takes the GIL and calls
``loop.call_soon_threadsafe``, whose wake-up write to the loop's self-pipe releases the
GIL again. The main thread may then finish the command and start finalizing the
interpreter; when that thread takes the GIL back, CPython ends it (``pthread_exit``), and
the unwinding runs PyO3's GIL guard, which calls ``PyGILState_Release`` with a thread
state that is no longer current: "Fatal Python error: PyGILState_Release", SIGABRT, exit
status 134, after the command did its work. The SDK's default runtime lives in a module
global until the interpreter tears it down, and the SDK has no method to stop a runtime:
its threads stop (joined, with the GIL released, by the bridge's ``CoreRuntimeHandle``
drop) only when the last reference to the core runtime goes, which :func:`run` makes
happen at a known point.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import traceback
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.service import ServiceClient, TLSConfig

from payments_engine.runtime.codec import data_converter
from payments_engine.runtime.settings import Settings

T = TypeVar("T")

log = logging.getLogger("payments.temporal")

# How long, in all, to wait for the last clients to be let go at shutdown: a Tokio thread
# handing a result over lets go within milliseconds of getting the GIL; anything still
# holding a client after half a second is a leak, and waiting longer would not help.
RELEASE_PAUSES = (0.01, 0.02, 0.05, 0.1, 0.3)
RELEASE_PATIENCE = sum(RELEASE_PAUSES)


class _OwnedRuntime:
    """The runtime of one :func:`run` call, created when its first client connects.

    Commands that never talk to Temporal (``payments migrate``, bad input) then never
    start the runtime's threads at all.
    """

    def __init__(self) -> None:
        """Start with no runtime and no clients."""
        self._runtime: Runtime | None = None
        # The service clients made on the runtime: each holds it (through its bridge
        # client) for as long as anything holds the client or one of its services.
        self._service_clients: weakref.WeakSet[ServiceClient] = weakref.WeakSet()

    @property
    def started(self) -> bool:
        """Whether a client asked for the runtime."""
        return self._runtime is not None

    def get(self) -> Runtime:
        """The runtime, created on first use with the SDK's default telemetry."""
        if self._runtime is None:
            self._runtime = Runtime(telemetry=TelemetryConfig())
        return self._runtime

    def track(self, client: Client) -> Client:
        """Remember ``client`` so :meth:`release` can wait until it is gone."""
        self._service_clients.add(client.service_client)
        return client

    async def release(self) -> bool:
        """Wait until no client holds the runtime, then drop it: its threads stop now.

        The bridge shuts the Tokio runtime down (GIL released, threads joined) when the
        last reference to it goes. The callers' clients and workers are unreachable by
        now, but some only through reference cycles (ASGI apps, tasks, exceptions), some
        through Python objects a Tokio thread let go of without the GIL (see
        :func:`_apply_deferred_decrefs`), and some are still held for a moment by a
        Tokio thread handing the last result over (it needs the GIL to let go): apply
        the deferred releases, collect, and yield to let those threads finish, until
        the clients are gone. This owner keeps the runtime until then, so that the last
        reference, and the join, is dropped here, on the main thread, rather than on
        one of the runtime's own threads.

        Returns:
            True when the runtime is gone; False when something still holds a client
            after :data:`RELEASE_PATIENCE`, in which case its threads outlive this call.
        """
        runtime = self._runtime
        if runtime is None:
            return True
        self._runtime = None
        for pause in (*RELEASE_PAUSES, None):
            _apply_deferred_decrefs()
            gc.collect()
            if not self._service_clients or pause is None:
                break
            await asyncio.sleep(pause)
        gone = weakref.ref(runtime)
        del runtime
        if not self._service_clients and gone() is None:
            return True
        log.warning(
            "the Temporal runtime is still in use by %d client(s) at shutdown; its threads "
            "may outlive the process's shutdown",
            len(self._service_clients),
        )
        return False


def _apply_deferred_decrefs() -> None:
    """Make PyO3 release the Python objects Rust threads let go of without the GIL.

    PyO3 (the SDK's Rust bridge) cannot decrement a reference count on a thread that
    does not hold the GIL, so it queues the decrement and applies the queue the next
    time any thread enters the extension. A Tokio task drops its handle on the Python
    future of each call (a worker's poll, an RPC) that way once it is done. At shutdown
    nothing enters the extension any more, so the last future stays alive in that
    queue, and with it what it holds: at a worker's shutdown, the poll's
    ``PollShutdownError``, whose traceback holds the activity worker's frame, its
    client and so the runtime (seen in about 1 in 13 worker stops without this).

    Any call into the extension applies the queue; parsing an empty client-config
    document is the cheapest public one (about 2 µs, no file or environment read).
    """
    with contextlib.suppress(Exception):
        ClientConfig.load(config_source=b"", override_env_vars={})


# The runtime of the :func:`run` call in progress; None outside one.
_owner: _OwnedRuntime | None = None


def _tls(settings: Settings) -> bool | TLSConfig:
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        return TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    return settings.temporal_tls or settings.temporal_api_key is not None


async def connect(settings: Settings) -> Client:
    """Connect to Temporal with the data converter every part of the engine uses.

    That is the pydantic data converter with the engine's payload codec
    (:func:`runtime.codec.data_converter`): payloads are encrypted with the keys of
    ``settings``, and payloads written before encryption still decode. Workers built
    on the client use its converter.

    Inside :func:`run` the client runs on the runtime :func:`run` owns and shuts down.
    Outside (tests, the benchmark, code embedding the engine) it runs on the SDK's
    default runtime, whose lifetime is then the embedding program's business.
    """
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    owner = _owner
    client = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        tls=_tls(settings),
        api_key=api_key,
        runtime=owner.get() if owner is not None else None,
    )
    return owner.track(client) if owner is not None else client


# docker-compose starts the relay and the workers together with Temporal, which takes a
# while to boot.
TEMPORAL_CONNECT_SECONDS = 60.0
TEMPORAL_RETRY_SECONDS = 2.0


async def connect_with_retry(
    settings: Settings,
    stop: asyncio.Event,
    logger: logging.Logger,
    timeout: float = TEMPORAL_CONNECT_SECONDS,
) -> Client | None:
    """Connect to Temporal, retrying while it is not reachable yet.

    Args:
        settings: the Temporal address, namespace and TLS or API key.
        stop: set when the process is told to stop; waiting ends at once.
        logger: the process's logger, for one line per attempt.
        timeout: seconds to keep trying before giving up.

    Returns:
        A connected client (see :func:`connect`), or None when ``stop`` was set while
        waiting.

    Raises:
        SystemExit: Temporal did not answer within ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await connect(settings)
        except RuntimeError as exc:
            if loop.time() + TEMPORAL_RETRY_SECONDS > deadline:
                raise SystemExit(
                    f"Temporal at {settings.temporal_address} did not answer "
                    f"within {timeout:.0f} s: {exc}"
                ) from exc
            logger.info(
                "waiting for Temporal at %s (%s)", settings.temporal_address, type(exc).__name__
            )
        try:
            await asyncio.wait_for(stop.wait(), TEMPORAL_RETRY_SECONDS)
        except TimeoutError:
            continue
        return None


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` like :func:`asyncio.run`, then shut the Temporal runtime down.

    After ``main`` returns or raises, and before the event loop closes: cancel the
    tasks it left behind and close async generators (as :func:`asyncio.run` would, but
    now, since they may hold clients), forget the locals a propagating exception keeps
    alive, then drop the runtime, which joins its threads. A result being handed to
    asyncio by a Tokio thread at that moment still finds the loop open. Workers must
    already be shut down by ``main`` (``async with worker`` does it).

    Args:
        main: the process's coroutine; it gets its clients from :func:`connect`.

    Returns:
        What ``main`` returned.

    Raises:
        RuntimeError: called while another :func:`run` is in progress.
    """
    global _owner
    if _owner is not None:
        main.close()
        raise RuntimeError("runtime.temporal.run() is already running in this process")
    owner = _owner = _OwnedRuntime()
    try:
        with asyncio.Runner() as runner:
            try:
                result = runner.run(main)
            except BaseException as exc:
                runner.run(_shut_down(owner, exc))
                raise
            runner.run(_shut_down(owner, None))
            return result
    finally:
        _owner = None


async def _shut_down(owner: _OwnedRuntime, failure: BaseException | None) -> None:
    """Release everything that holds the runtime, then the runtime itself."""
    global _owner
    # No client may be made on a runtime that is going away; a late connect() falls
    # back to the SDK default rather than resurrecting this one.
    _owner = None
    if not owner.started:
        return
    await _cancel_leftover_tasks()
    await asyncio.get_running_loop().shutdown_asyncgens()
    if failure is not None:
        _forget_locals(failure)
    await owner.release()


async def _cancel_leftover_tasks() -> None:
    """Cancel and wait for the tasks ``main`` did not wait for, as asyncio.run does."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    loop = asyncio.get_running_loop()
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception in a task left running at shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )


def _forget_locals(failure: BaseException) -> None:
    """Clear the local variables of the finished frames an exception's traceback keeps.

    A command that fails inside ``async with open_client(...) as client`` propagates an
    exception whose traceback holds that frame, hence the client, hence the runtime,
    until the process exits: the very situation :func:`run` exists to prevent. The
    traceback still prints (file, line, code); only the locals go, and with them the
    clients. Chained and grouped exceptions are cleared too.
    """
    pending: list[BaseException] = [failure]
    seen: set[int] = set()
    while pending:
        exc = pending.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        pending.extend(e for e in (exc.__cause__, exc.__context__) if e is not None)
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
