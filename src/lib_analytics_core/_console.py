"""What every console script does on the way out: quiet on a closed pipe.

``analytics-migrate status | head`` closes the pipe while the script still writes; Python
ignores SIGPIPE, so the write raises ``BrokenPipeError`` and the script ended in a
traceback with exit 1 (issue 29), and again at interpreter exit when stdout is flushed.
Every entry point is wrapped in :func:`console_script`: on a closed pipe it points stdout
at ``/dev/null`` (so the final flush is silent) and exits with 141, 128 + SIGPIPE, what
a shell reports for a Unix tool that met the same (``yes | head``), without a word.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from typing import ParamSpec

__all__ = ["EXIT_BROKEN_PIPE", "console_script"]

#: 128 + SIGPIPE (13): how shells report a writer whose reader went away.
EXIT_BROKEN_PIPE = 141

P = ParamSpec("P")


def console_script(main: Callable[P, int]) -> Callable[P, int]:
    """``main`` exiting quietly with :data:`EXIT_BROKEN_PIPE` when its output pipe closes."""

    @functools.wraps(main)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> int:
        try:
            try:
                code = main(*args, **kwargs)
            finally:  # also after argparse's SystemExit: a pending write fails here
                sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
            return EXIT_BROKEN_PIPE
        return code

    return wrapped


def _silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
