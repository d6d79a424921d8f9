"""Entry-point wrapper: errors a user can act on print one clear line instead of a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, KeyError, RuntimeError)


def main(entry: Callable[[], int]) -> None:
    """Run a stage's main(); exit 1 with `error: ...` on an actionable error."""
    try:
        code = entry()
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        code = 130
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        code = 1
    sys.exit(code)
