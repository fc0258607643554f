"""What every engine process shares: settings, the Temporal connection, HTTP serving.

Modules:
    settings: :class:`Settings` from ``PAYMENTS_*`` variables, loaded in ``main()``.
    temporal: :func:`connect` to Temporal and :func:`run`, the entry points' event loop.
    codec: the payload codec (AES-GCM, key rotation) and the engine's data converter.
    codec_server: the codec server the Web UI and the CLI decode payloads through.
    search_attributes: registers the engine's search attributes on a namespace.
    serving: runs an ASGI app (relay, sandbox) in-process with uvicorn.
"""
