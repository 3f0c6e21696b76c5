"""Ctrl-C and SIGTERM during a run: the first stops after the batch in progress, the second now.

Python runs signal handlers only between bytecodes, so a main thread busy in native code
(polars sorting a large input) would not notice a signal until that call returns. The signals
are therefore also watched on a wake-up socket by a thread, which prints the notice at once
and, after a second signal, ends the process with exit code 130 unless the main thread has
unwound within :data:`ABORT_GRACE_S`. The state stays consistent either way: every state write
is atomic and the next run publishes whatever was staged.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

ABORT_GRACE_S = 1.0
"""After a second Ctrl-C, how long the main thread gets to unwind before the process ends."""

ABORT_NOTICE = (
    "every committed batch is kept and the next run publishes what was staged — re-run the "
    "same command (add --resume to skip the committed batches)"
)


@contextmanager
def graceful_stop(err: Console) -> Iterator[threading.Event]:
    """Turn the first Ctrl-C / SIGTERM into a request to stop after the current batch.

    Yields:
        The event the run polls between batches. A second signal raises KeyboardInterrupt in
        the main thread, or ends the process (exit 130) if the main thread is stuck in native
        code. Outside the main thread, signals are left alone.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(_signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def say(text: str) -> None:
        err.print(text, highlight=False, soft_wrap=True)

    def watch() -> None:
        seen = 0
        while True:
            try:
                data = reader.recv(64)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum not in (signal.SIGINT, signal.SIGTERM):
                    continue
                seen += 1
                name = signal.Signals(signum).name
                if seen == 1:
                    say(
                        f"{name}: stopping after the current batch is committed "
                        "(press Ctrl-C again to abort now)"
                    )
                    continue
                say(f"{name} again: aborted; {ABORT_NOTICE}")
                time.sleep(ABORT_GRACE_S)
                os._exit(130)

    watcher = threading.Thread(target=watch, name="signal-watch", daemon=True)
    watcher.start()
    try:
        yield stop
    finally:
        signal.set_wakeup_fd(old_fd)
        writer.close()
        watcher.join(timeout=ABORT_GRACE_S + 1)
        reader.close()
        for sig, old in previous.items():
            # once a stop was asked for, a further signal while the process winds down ends it
            # with the same exit code; the state is already consistent
            signal.signal(sig, (lambda *_: os._exit(130)) if stop.is_set() else old)
