"""The write path: ``track()`` → bounded channel → batching worker → delivery to a sink.

Owns the client, the channel, encoding to rows, the worker, delivery (retry, backoff,
dead letters), the spool, the thread host and fork handling. Imports ``events``,
``_config`` and ``_errors``; never imports ``read``, ``api``, ``demo`` or ``cli``.
"""
