"""Events: the typed classes services track, their registry and construction-time checks.

Owns ``Event`` (``base``) and the seed's event catalog (``catalog``). Knows nothing of
queues, encoding or databases; every other layer may import it, it imports only
``_errors``.
"""
