"""Errors a user can act on, and the entry-point wrapper that prints them as one line.

Every project error a user can fix (a bad params key, missing data, a missing result, bad estimator
input) derives from UserError and carries a message that says what to do. Anything else is a bug:
it keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """Input or state the user can fix; the message names the file, key or value and what to do."""


class MissingResult(UserError):
    """A result file a stage needs has not been made yet."""


def run_main(entry: Callable[[], int]) -> None:
    """Run a stage's main(); exit 1 with `error: ...` on a UserError, 130 on Ctrl-C."""
    try:
        code = entry()
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        code = 130
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        code = 1
    sys.exit(code)
