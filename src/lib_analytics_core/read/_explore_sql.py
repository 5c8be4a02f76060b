"""The statement behind :func:`.explore.explore`: exact measures from one pass over the rows.

The obvious statement (``GROUP BY bucket, group`` with ``count(DISTINCT user_id)`` and
``percentile_disc(...) WITHIN GROUP (ORDER BY value)``) sorts every row of the type once
for the grouping and once more per distinct or ordered aggregate: at 10M events, a type
with 1M rows in range spent 3 to 4 s in those sorts (EXPLAIN ANALYZE in BENCHMARKS.md). The
answers only need far less than the rows:

* distinct users per group are the number of distinct (group, user) pairs;
* a percentile per group is a walk over the group's *distinct* values with their
  counts (``percentile_disc(q)`` is the smallest value whose running count reaches
  ``ceil(q * n)``, PostgreSQL's own row number, computed here in the same double
  precision), and measured values repeat a lot (milliseconds, cents, status codes);
* counts, sums, minima and maxima of a group are those of its parts.

So without distinct users the rows are read once and reduced by one hash aggregation
with grouping sets: per (period, bucket, group values) the row count and the
sums/minima/maxima, per (…, value) the rows of each value of each field a percentile is
asked of. Everything after (the top-N ranking, "other", the measures) reads those few
rows: at 10M events, per-day p95 of a type with 0.8M rows went from 2.3 to 1.1 s, an
hourly p99 over 77k rows from 91 to 51 ms (BENCHMARKS.md).

Distinct users do not shrink that way: (day, group, user) pairs are about as many as the
rows (791k pairs for 1M ``api_request`` rows over 13 days). With ``users`` among the
measures (:meth:`Plan._with_users`) the rows are read once into a materialised ``base``,
the top values ranked over it, and every row labelled with its top value's *position*
(an integer, NULL for "other"); the parts above then group those narrow keys, and the
users are the number of distinct (group, user) pairs, one hash aggregation (115 MB at 1M
rows, within the heavy reads' ``work_mem``). The statement before sorted the rows, text
labels and all, once for the groups and again inside ``count(DISTINCT)`` and
``percentile_disc``: that sort alone spilled 316 MB to disk and took 2.4 s of 6.4 at 1M
rows (EXPLAIN ANALYZE, BENCHMARKS.md). Both shapes are exact: the same numbers as the
tests' reference implementation recomputes in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["QUANTILES", "Plan"]

#: The percentile measures and their fraction.
QUANTILES: Final = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
#: The measures read from the per-group set, by kind: the step-1 aggregate over the rows
#: (``{n}`` the field's column) and how step 3 combines the parts into the group's value.
_PER_GROUP: Final = {
    "sum": ("sum({n}) AS s_{n}", "sum(s_{n})"),
    "avg": ("sum({n}) AS s_{n}, count({n}) AS c_{n}", "sum(s_{n}) / nullif(sum(c_{n}), 0)"),
    "min": ("min({n}) AS lo_{n}", "min(lo_{n})"),
    "max": ("max({n}) AS hi_{n}", "max(hi_{n})"),
}


@dataclass(frozen=True, slots=True)
class Plan:
    """What one explore statement computes. ``measures``: (kind, the field's column in
    the base rows or None), in the asked order; ``dims``: the number of group-by
    dimensions (columns ``k0``, ``k1`` of the base rows); the base rows also have ``cur``
    (current period?), ``b`` (bucket) and ``u`` (user)."""

    measures: list[tuple[str, str | None]]
    dims: int

    def sql(self, base: str, top: str) -> str:
        """The statement over ``base`` (the rows' SELECT); ``top``: the placeholder of
        the top-N count (unused without dimensions). Columns: ``cur``, ``b``, ``g{i}``
        (the group's value, NULL for "other" or a null value), ``o{i}`` ("other"?),
        ``m{j}``."""
        kinds = [k for k, _ in self.measures]
        if "users" in kinds:
            return self._with_users(base, top)
        extra = self._ranked()
        keys = ["cur", "b", *(f"k{i}" for i in range(self.dims))]
        # Step 1: one pass, one hash aggregation with a grouping set per part.
        step1, full, set_of = self._step1(", ".join(keys), extra, f"({base}) AS x")
        # Step 2: the top values of each dimension, from the per-group counts.
        if self.dims:
            tops = _tops(self.dims, "sum(c)", f"agg WHERE s = {full} AND cur", top)
            lab = f"SELECT agg.*, {_labels(self.dims)} FROM agg, tops"
            group = ["cur", "b", *(f"{c}{i}" for i in range(self.dims) for c in "go")]
        else:
            tops = ""
            lab = "SELECT * FROM agg"
            group = ["cur", "b"]
        g = ", ".join(group)
        # Step 3: each part's measures per labelled group, one UNION ALL branch per part.
        union = "\nUNION ALL\n".join(self._parts(g, extra, full, set_of))
        ms = ", ".join(f"max(m{j}) AS m{j}" for j in range(len(kinds)))
        with_tops = f",\ntops AS MATERIALIZED (SELECT {tops})" if self.dims else ""
        return f"""
WITH agg AS MATERIALIZED ({step1}){with_tops},
lab AS MATERIALIZED ({lab})
SELECT {g}, {ms}
FROM ({union}) AS parts
GROUP BY {g}
ORDER BY {self._order()}
"""

    def _ranked(self) -> list[str]:
        """The columns a percentile is asked of, each once."""
        return list(dict.fromkeys(n for k, n in self.measures if k in QUANTILES and n is not None))

    def _step1(self, k: str, extra: list[str], source: str) -> tuple[str, int, dict[str, int]]:
        """Step 1 over ``source`` grouped by the keys ``k``: per group the row count and
        the sums/minima/maxima, and per (group, value) of each ``extra`` column its
        rows, one hash aggregation with a grouping set per part. Also the ``s``
        (``GROUPING()``) of the per-group set and of each column's set."""
        aggs = ["count(*) AS c"]
        for kind, n in self.measures:
            if kind in _PER_GROUP and n is not None:
                aggs.append(_PER_GROUP[kind][0].format(n=n))
        aggs = list(dict.fromkeys(", ".join(aggs).split(", ")))
        if extra:
            sets = ", ".join([f"({k})", *(f"({k}, {x})" for x in extra)])
            step1 = (
                f"SELECT {k}, {', '.join(extra)}, GROUPING({', '.join(extra)}) AS s,"
                f" {', '.join(aggs)} FROM {source} GROUP BY GROUPING SETS ({sets})"
            )
        else:
            step1 = f"SELECT {k}, 0 AS s, {', '.join(aggs)} FROM {source} GROUP BY {k}"
        full = (1 << len(extra)) - 1  # GROUPING(): a bit per column left out of the set
        set_of = {x: full - (1 << (len(extra) - 1 - i)) for i, x in enumerate(extra)}
        return step1, full, set_of

    def _parts(self, g: str, extra: list[str], full: int, set_of: dict[str, int]) -> list[str]:
        """Step 3's UNION ALL branches over ``lab`` grouped by ``g``: the per-group
        measures (set ``full``), then one percentile walk per ``extra`` column."""
        return [self._part(None, full, g), *(self._part(n, set_of[n], g) for n in extra)]

    def _order(self) -> str:
        """The answer's order: current period first, by bucket, then per dimension
        "other" last and the values in code-point order, null first."""
        dims = "".join(f', o{i}, g{i} COLLATE "C" NULLS FIRST' for i in range(self.dims))
        return f"cur DESC, b{dims}"

    def _part(self, column: str | None, s: int, g: str) -> str:
        """One UNION ALL branch: a column per measure, NULL for those of other parts.
        ``column``: None for the per-group set, else the field whose values the set
        holds."""
        cols: list[str] = []
        for j, (kind, n) in enumerate(self.measures):
            typ = _type(kind)
            value = None
            if column is None and kind == "count":
                value = "sum(c)"
            elif column is None and kind in _PER_GROUP:
                value = _PER_GROUP[kind][1].format(n=n)
            elif column is not None and column == n and kind in QUANTILES:
                q = QUANTILES[kind]
                value = f"min(v) FILTER (WHERE run >= ceil({q}::float8 * tot))"
            cols.append(f"{value or 'NULL'}::{typ} AS m{j}")
        select = ", ".join(cols)
        if column is None:
            return f"SELECT {g}, {select} FROM lab WHERE s = {s} GROUP BY {g}"
        # The values with their counts, then each one's running count within the group.
        return (
            f"SELECT {g}, {select} FROM (SELECT {g}, v,"
            f" (sum(c) OVER (PARTITION BY {g} ORDER BY v ROWS UNBOUNDED PRECEDING))::float8"
            f" AS run, (sum(c) OVER (PARTITION BY {g}))::float8 AS tot"
            f" FROM (SELECT {g}, {column} AS v, sum(c) AS c FROM lab"
            f" WHERE s = {s} AND {column} IS NOT NULL GROUP BY {g}, {column}) AS vals) AS w"
            f" GROUP BY {g}"
        )

    def _with_users(self, base: str, top: str) -> str:
        """The statement when distinct users are asked for (module docstring): ``base``
        read once, ``tops`` ranked over its current period, each row labelled with
        its top values' positions (``i{n}``), then :meth:`_step1`'s parts and the
        (group, user) pairs over the labelled rows. ``tops`` is materialised: inlined,
        each reference became a sub-plan re-ranking the ~1M-row ``base``."""
        extra = self._ranked()
        idx = [f"i{i}" for i in range(self.dims)]
        g = ", ".join(["cur", "b", *idx])
        fields = list(dict.fromkeys(n for _, n in self.measures if n is not None))
        if self.dims:
            positions = ", ".join(
                f"array_position(tops.t{i}, k{i}) AS i{i}" for i in range(self.dims)
            )
            rows = f"SELECT cur, b, {positions}, {', '.join(['u', *fields])} FROM base, tops"
            ranking = _tops(self.dims, "count(*)", "base WHERE cur", top)
            tops = f",\ntops AS MATERIALIZED (SELECT {ranking})"
        else:
            rows, tops = "SELECT * FROM base", ""
        step1, full, set_of = self._step1(g, extra, "labelled")
        parts = [*self._parts(g, extra, full, set_of), self._users_part(g)]
        ms = ", ".join(
            f"coalesce(max(m{j}), 0) AS m{j}" if kind == "users" else f"max(m{j}) AS m{j}"
            for j, (kind, _) in enumerate(self.measures)
        )  # a group whose rows have no user has no pairs
        labels = ", ".join(
            f"tops.t{i}[i{i}] AS g{i}, i{i} IS NULL AS o{i}" for i in range(self.dims)
        )
        union = "\nUNION ALL\n".join(parts)
        measures = ", ".join(f"m{j}" for j in range(len(self.measures)))
        return f"""
WITH base AS MATERIALIZED ({base}){tops},
labelled AS NOT MATERIALIZED ({rows}),
lab AS MATERIALIZED ({step1})
SELECT * FROM (
SELECT cur, b{", " + labels if labels else ""}, {measures}
FROM (SELECT {g}, {ms} FROM ({union}) AS parts GROUP BY {g}) AS m{", tops" if self.dims else ""}
) AS answer
ORDER BY {self._order()}
"""

    def _users_part(self, g: str) -> str:
        """The UNION ALL branch of distinct users: the (group, user) pairs, then their
        number per group."""
        cols = ", ".join(
            f"{'count(*)' if kind == 'users' else 'NULL'}::{_type(kind)} AS m{j}"
            for j, (kind, _) in enumerate(self.measures)
        )
        return (
            f"SELECT {g}, {cols} FROM (SELECT {g}, u FROM labelled WHERE u IS NOT NULL"
            f" GROUP BY {g}, u) AS pairs GROUP BY {g}"
        )


def _tops(dims: int, count: str, rows: str, top: str) -> str:
    """Per dimension ``k{i}``, its ``top`` values over ``rows`` (a FROM ... WHERE of the
    current period's rows) ranked by ``count`` (``count(*)`` over rows, ``sum(c)`` over
    counted groups), ties by the value's text in code-point order, null first: the
    ``t{i}`` arrays."""
    return ", ".join(
        f'(SELECT coalesce(array_agg(v ORDER BY c DESC, v COLLATE "C" NULLS FIRST),'
        f" '{{}}'::text[]) FROM (SELECT k{i} AS v, {count} AS c FROM {rows}"
        f' GROUP BY k{i} ORDER BY c DESC, k{i} COLLATE "C" NULLS FIRST LIMIT {top}) AS t)'
        f" AS t{i}"
        for i in range(dims)
    )


def _labels(dims: int) -> str:
    """Per dimension, the group's value ``g{i}`` (NULL outside the top values) and
    whether it is "other" (``o{i}``)."""
    return ", ".join(
        f"CASE WHEN array_position(tops.t{i}, k{i}) IS NOT NULL THEN k{i} END AS g{i},"
        f" array_position(tops.t{i}, k{i}) IS NULL AS o{i}"
        for i in range(dims)
    )


def _type(kind: str) -> str:
    """A measure's SQL type: counts are integers, the rest exact decimals."""
    return "bigint" if kind in ("count", "users") else "numeric"
