"""The analytics schema the library owns: migrations, server detection, maintenance,
health, erasure.

Modules: ``facts`` (every name, window, lock key and the one identifier quoter),
``server`` (detection any role can run; the operator's tier choice), ``migrate``
(the plain-SQL migration files per tier; ``migrate()``/``migration_status()``), ``history``
(the history table's rules; applying one migration), ``definitions`` (each aggregate's
range query on either tier), ``maintenance`` (``maintain()``/``refresh_aggregates()``),
``timescale`` (the TimescaleDB jobs' work, done on demand), ``maintenance_recent`` and
``maintainer`` (the elected maintainer and its frequent refresh), ``health``
(``schema_health()``: jobs and staleness; ``health_report`` its types, ``health_age``
the age of the oldest uncounted row), ``erasure`` (``forget_user()``).

Imports ``_errors`` and ``_db``; never imports ``ingest``, ``api``, ``demo`` or ``cli``.
"""
