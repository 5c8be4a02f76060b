"""The read side: typed queries over the aggregates and the latency distributions.

Reads only aggregates, never raw events in a request path. Imports ``_errors``; never
imports ``ingest``, ``api``, ``demo`` or ``cli``.
"""
