"""Errors a user can act on, and the entry-point wrapper every stage runs under.

Every project error a user can fix (a bad params key, missing data, a missing result, bad estimator
input) derives from UserError and carries a message that says what to do; the wrapper prints it as
one line. Anything else is a bug: it keeps its traceback. The wrapper also stops a stage cleanly
(exit 130, resumable) on Ctrl-C, on SIGTERM, and when the process that started it is gone (watch.py).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

from replication.core import watch


class UserError(Exception):
    """Input or state the user can fix; the message names the file, key or value and what to do."""


class MissingResult(UserError):
    """A result file a stage needs has not been made yet."""


class ConfigError(UserError, ValueError):
    """A params file that does not match the expected schema (a key misspelt, a value out of range)."""


UNDO = ("; if `dvc exp run -S` wrote it, `git checkout -- params.yaml` puts back the committed value "
        "(results/ and report/ are as they were)")


def message(err: UserError) -> str:
    """The one line printed for `err`: under DVC (which sets $DVC_STAGE), a params error also says how to undo
    the setting that caused it, since `dvc exp run -S` leaves it in params.yaml."""
    text = " ".join(str(err).split())
    return text + UNDO if isinstance(err, ConfigError) and os.environ.get("DVC_STAGE") else text


def run_main(entry: Callable[[], int], guard: bool = True) -> None:
    """Run a stage's main(); exit 1 with `error: ...` on a UserError, 130 on Ctrl-C, SIGTERM or the
    death of the process that started it (`guard`)."""
    if guard:
        signal.signal(signal.SIGTERM, watch.terminate)
        watch.parents()
    try:
        code = entry()
    except KeyboardInterrupt:
        why = f"{watch.orphaned[0]}, which started this stage, is gone; stopped" if watch.orphaned else "interrupted"
        print(f"{why}; rerun the same command to resume", file=sys.stderr)
        code = 130
    except UserError as err:
        print(f"error: {message(err)}", file=sys.stderr)
        code = 1
    sys.exit(code)
