"""The read side: typed questions over the aggregates and the raw events.

One module per family of questions, each with the one signature
``question(db, *, start, end, **filters)``:

* :mod:`.activity` (DAU/WAU/MAU), :mod:`.tasks`, :mod:`.latency` (API traffic, an
  endpoint's drill-down), :mod:`.endpoints` (slowest endpoints; both build on
  :mod:`._latency_total`: the latency row and its totals), :mod:`.errors`,
  :mod:`.integrations`, :mod:`.auth`, :mod:`.cocoons`, :mod:`.events` (event trends),
  :mod:`.overview` (KPI cards and the previous period): the precomputed questions, from
  the aggregates;
* :mod:`.explore` (any measure of any event type, grouped and filtered), :mod:`.users`
  (a user's timeline and summary), :mod:`.funnels` and :mod:`.retention` (per-user
  sequences and cohorts, sharing :mod:`._raw`: the raw-retention horizon, top N): from
  the raw events;
* :mod:`.catalog`: the values a picker offers (services, event types, an event's fields).

What they share: :mod:`.filters` (the filter language on any event field, the metadata
and the columns), :mod:`._exec` (the one execution point: time limit, error
classification through ``_db``, tracing; :class:`._exec.Params` for bind parameters),
:mod:`._sql` (named statements in ``sql/queries.sql``, relation names from
``schema.facts``), :mod:`._common` (ranges, limits, fast rows), :mod:`.window`,
:mod:`.histogram`, :mod:`.cumulative`. :mod:`.queries` and :mod:`.questions` re-export the
questions under the names users imported before.

Adding a question: a module here (its row dataclass and ``async def question(db, *,
start, end, ...)`` running its SQL through ``_exec.fetch``, tables from ``schema.facts``,
user-chosen fields through ``filters``), a route in ``api/routes_<family>.py``, its test
against a recomputation from raw, and its line in ``docs/api.md``.

Imports ``_errors``, ``_db``, ``events`` (decoding stored rows) and ``schema.facts``;
never imports ``ingest``, ``api``, ``demo`` or ``cli``.
"""
