"""Overlapping extraction with transform and load: a bounded queue fed by one thread.

:func:`prefetch` runs a source's batch generator in a background thread while the caller
transforms and loads the batch before. The queue holds at most ``depth`` batches, so memory
stays bounded by the batch size: at any time one batch is being loaded, at most ``depth`` wait,
and one is being extracted. Order is kept, and an error in the source is raised in the caller
at the point where its batch would have come.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_S = 0.1
_JOIN_S = 5.0


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` in order, produced up to ``depth`` ahead by a background thread.

    Args:
        items: the generator to run ahead (a source's ``batches()``); it runs entirely in the
            background thread, which also closes it.
        depth: batches that may wait in the queue (0: no thread, ``items`` as they are).

    Raises:
        Whatever ``items`` raises, when the caller reaches that point.
    """
    if depth <= 0:
        yield from items
        return
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def put(item: object) -> bool:
        while not stopped.is_set():
            try:
                buffer.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    break
            else:
                put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="extract", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = buffer.get(timeout=_POLL_S)
            except queue.Empty:
                if not worker.is_alive() and buffer.empty():
                    return
                continue
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stopped.set()
        worker.join(timeout=_JOIN_S)  # a batch half-extracted is abandoned, not awaited long
