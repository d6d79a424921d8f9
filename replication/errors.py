"""Errors a user can act on, and the entry-point wrapper every stage runs under.

Every project error a user can fix (a bad params key, missing data, a missing result, bad estimator
input) derives from UserError and carries a message that says what to do; the wrapper prints it as
one line. Anything else is a bug: it keeps its traceback. The wrapper also stops a stage cleanly
(exit 130, resumable) on Ctrl-C, on SIGTERM, and when the process that started it (dvc, or the shell
dvc runs it in) is gone, so a killed `dvc repro` leaves no training running on as an orphan.
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

SHELLS = {"sh", "dash", "bash", "zsh"}
_orphaned: list[str] = []


class UserError(Exception):
    """Input or state the user can fix; the message names the file, key or value and what to do."""


class MissingResult(UserError):
    """A result file a stage needs has not been made yet."""


def _parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _watch_parents(interval: float = 1.0) -> None:
    """Interrupt the main thread when the parent, or the grandparent behind a shell, goes away.

    A process whose parent dies is re-parented, so a changed parent id means the parent is gone
    (even while it is an unreaped zombie).
    """
    links = [(os.getpid(), os.getppid())]
    if _comm(os.getppid()) in SHELLS:
        grand = _parent_of(os.getppid())
        if grand not in (None, 0, 1):
            links.append((os.getppid(), grand))

    def watch() -> None:
        while True:
            time.sleep(interval)
            for pid, parent in links:
                now = os.getppid() if pid == os.getpid() else _parent_of(pid)
                if now != parent:
                    _orphaned.append(f"{_comm(parent) or 'parent'} (pid {parent})")
                    # SIGTERM, whose handler run_main installs: SIGINT may be ignored (background jobs),
                    # and interrupt_main does nothing for a signal Python does not handle
                    _thread.interrupt_main(signal.SIGTERM)
                    return

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def run_main(entry: Callable[[], int], guard: bool = True) -> None:
    """Run a stage's main(); exit 1 with `error: ...` on a UserError, 130 on Ctrl-C, SIGTERM or the
    death of the process that started it (`guard`)."""
    if guard:
        signal.signal(signal.SIGTERM, _terminate)
        _watch_parents()
    try:
        code = entry()
    except KeyboardInterrupt:
        why = f"{_orphaned[0]}, which started this stage, is gone; stopped" if _orphaned else "interrupted"
        print(f"{why}; rerun the same command to resume", file=sys.stderr)
        code = 130
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        code = 1
    sys.exit(code)
