"""Extraction ahead of loading: order, errors in place, a bounded queue, early stop."""

from __future__ import annotations

import threading
import time

import pytest

from analytics_framework.prefetch import prefetch


def test_items_come_in_order_and_an_error_where_it_happened():
    def gen():
        yield from range(5)
        raise ValueError("page 6 is not JSON")

    got = []
    with pytest.raises(ValueError, match="page 6"):
        for item in prefetch(gen(), depth=2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_the_producer_runs_at_most_depth_ahead_and_stops_when_closed():
    produced: list[int] = []
    closed = threading.Event()

    def gen():
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    it = prefetch(gen(), depth=2)
    assert next(it) == 0
    time.sleep(0.3)  # give the producer time to run ahead as far as it may
    assert len(produced) <= 1 + 2 + 1  # the one taken, the queue, the one waiting to be put
    it.close()
    assert closed.wait(2) and len(produced) < 10


def test_depth_zero_is_the_plain_iterator():
    assert list(prefetch(iter([1, 2, 3]), depth=0)) == [1, 2, 3]
