"""Payment providers as plugins: one folder each, Protocols per capability, one registry.

Modules:
    base: the capability Protocols, :class:`ProviderSpec`, provider settings and the
        faults adapters raise.
    registry: provider name -> spec.
    hub, momo: the providers; each holds its wire models, settings, adapter and webhook
        translator.
"""
