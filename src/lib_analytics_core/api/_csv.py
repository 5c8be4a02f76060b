"""CSV answers, streamed: every series and table of ``/v1`` with ``format=csv``.

The body is sent chunk by chunk as it is produced (``StreamingResponse`` over an async
generator), so the server holds a chunk, never the whole answer: the long ``api-latency``
series is written by PostgreSQL itself (``read._exec.copy_csv``) and passed through.
The cells are rendered by ``read._csv`` (the one rendering, for rows Python holds and
rows the server writes): the JSON answer's values, in text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Final

from fastapi.responses import StreamingResponse

from ..read._csv import iso, rows_csv

__all__ = ["MEDIA_TYPE", "csv_response", "dataclass_csv", "iso", "rows_chunk"]

MEDIA_TYPE: Final = "text/csv; charset=utf-8"


def dataclass_csv(cls: type[Any], rows: Iterable[Any]) -> AsyncIterator[bytes]:
    """Rows of a row dataclass as one CSV chunk, its fields as the header."""
    columns = [f.name for f in dataclasses.fields(cls)]
    return rows_chunk(columns, ([getattr(r, c) for c in columns] for r in rows))


async def rows_chunk(
    columns: Sequence[str], rows: Iterable[Sequence[object]]
) -> AsyncIterator[bytes]:
    """An already computed answer as the single chunk of a stream."""
    yield rows_csv(rows, columns)


async def _rest(first: bytes, it: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in it:
        yield chunk


async def csv_response(chunks: AsyncIterator[bytes], *, filename: str) -> StreamingResponse:
    """A streamed CSV answer of ``chunks`` (header line first).

    The first chunk is read before the answer starts, so a bad parameter or a database
    that is down still gets its 400/503 (once the status line is sent, a failure can only
    cut the body short).
    """
    first = await anext(chunks, b"")
    return StreamingResponse(
        _rest(first, chunks),
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )
