"""What every engine process shares: settings, the Temporal connection, HTTP serving.

Modules:
    settings: :class:`Settings` from ``PAYMENTS_*`` variables, loaded in ``main()``.
    temporal: :func:`connect` to Temporal and :func:`run`, the entry points' event loop.
    search_attributes: registers the engine's search attributes on a namespace.
    serving: runs an ASGI app (relay, sandbox) in-process with uvicorn.
"""
