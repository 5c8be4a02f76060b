"""Build a valid instance of any event class from its annotations (for round-trip tests)."""

from __future__ import annotations

import datetime as dt
import types
import typing
import uuid
from typing import Any, get_args, get_origin

from lib_analytics_core import Event


def sample_value(tp: Any, name: str, seed: int) -> Any:
    origin = get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in get_args(tp) if a is not type(None)]
        return sample_value(args[0], name, seed)
    if origin is list:
        return [f"{name}-{seed}", "other"]
    if origin is dict:
        return {"k": f"{name}-{seed}"}
    if tp is uuid.UUID:
        return uuid.UUID(int=(seed * 7919 + len(name)) % (1 << 122) | (4 << 76))
    if tp is bool:
        return seed % 2 == 0
    if tp is int:
        return 100 + seed
    if tp is float:
        return 1.5 + seed
    if tp is str:
        if name == "method":
            return "GET"
        return f"{name}-{seed} ünïcode ✓"
    if tp is dt.datetime:
        return dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    raise AssertionError(f"no sample for {tp!r}")


def build(cls: type[Event], seed: int = 1) -> Event:
    hints = typing.get_type_hints(cls)
    kwargs = {name: sample_value(hints[name], name, seed) for name in cls.__struct_fields__}
    return cls(**kwargs)
