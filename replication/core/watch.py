"""A stage stops when the process that started it is gone: dvc, or the shell dvc runs it in, killed.

A process whose parent dies is re-parented, so a changed parent id means the parent is gone (even while it is
an unreaped zombie); the watcher then interrupts the main thread, and a killed `dvc repro` leaves no training
running on as an orphan.
"""

from __future__ import annotations

import _thread
import os
import signal
import threading
import time
from pathlib import Path

SHELLS = {"sh", "dash", "bash", "zsh"}
orphaned: list[str] = []  # the parent found gone, for the stage's last message


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


def parents(interval: float = 1.0) -> None:
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
                    orphaned.append(f"{_comm(parent) or 'parent'} (pid {parent})")
                    # SIGTERM, whose handler run_main installs: SIGINT may be ignored (background jobs),
                    # and interrupt_main does nothing for a signal Python does not handle
                    _thread.interrupt_main(signal.SIGTERM)
                    return

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def terminate(signum, frame) -> None:
    raise KeyboardInterrupt
