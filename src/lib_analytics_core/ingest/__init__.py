"""The write path: ``track()`` → bounded channel → batching worker → delivery to a sink.

Owns the client, the channel, encoding to rows (``encoding.RowEncoder``: the one row
encoder), the worker, delivery (``delivery``: retry, backoff, dead letters), the spool,
the sinks (PostgreSQL, HTTP, and the NATS producer with its settings, connection and
wire format), the thread host and fork handling, and ``pipeline``: the one assembly of
spool + sink + delivery policy + encoder that the worker, the HTTP collector
(``collect``) and the bus consumer (``bus``) all build. Imports ``events``, ``_config``,
``_errors`` and ``_extras``; the PostgreSQL sink also the table names of
``schema.facts``. Never imports ``bus``, ``read``, ``api``, ``collect``, ``demo`` or
``cli`` (import-linter contracts in ``pyproject.toml``, run by ``tasks.py lint``).
"""
