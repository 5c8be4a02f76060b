"""The analytics schema the library owns: migrations, server detection, maintenance, erasure.

Every schema fact (table names, migration files, the tier a database uses) lives here.
Imports ``_errors`` and the histogram definition the aggregate SQL is generated from;
never imports ``ingest``, ``api``, ``demo`` or ``cli``.
"""
