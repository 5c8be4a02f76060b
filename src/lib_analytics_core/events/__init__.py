"""Events: the typed classes services track, their registry and construction-time checks.

Owns ``Event`` and the registry (``base``), the seed's event catalogue (``catalog``, which
is also the ``AnalyticsEvent`` namespace), value limits (``limits``), the seed family's
wire format derived from the registry (``wire``) and its JSON Schemas and docs table
(``jsonschema``). Every list of events is derived from the registry, never written out.
Knows nothing of queues, encoding to rows or databases; every other layer may import it,
it imports only ``_errors``.
"""
