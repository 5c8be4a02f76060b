"""The write path: ``track()`` → bounded channel → batching worker → delivery to a sink.

Owns the client, the channel, encoding to rows, the worker, delivery (retry, backoff,
dead letters), the spool, the thread host and fork handling. Imports ``events``,
``_config``, ``_errors`` and ``_extras``; the PostgreSQL sink also the table names of
``schema.facts``; the NATS sink (``sinks/nats.py``, loaded by ``make_sink`` only for a
``nats://`` transport) ``bus``'s settings, connection and wire format. Never imports
``read``, ``api``, ``collect``, ``demo`` or ``cli``.
"""
