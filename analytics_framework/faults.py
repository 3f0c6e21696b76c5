"""A test-only crash hook: kill the process at a named point, to prove crash safety.

Set ``ANALYTICS_TEST_FAIL_AT=POINT[:N]`` and the process ends abruptly (``os._exit(86)``: no
``finally`` blocks, no flushing, like a power cut or SIGKILL) the N-th time (default 1) it
reaches ``POINT``. The points, in the order a batch passes them:

- ``after_extract``: a batch was read from the source, nothing of it written yet;
- ``mid_write``: a lake file's bytes are written to its temporary name, not yet renamed;
- ``after_write``: the batch is staged and earlier partitions published, state not yet saved;
- ``after_commit``: the batch is recorded in the state file.

With ``ANALYTICS_TEST_FAIL_ONCE=FILE`` as well, only the first process to get there ends: it
creates ``FILE`` first, and a process that finds it carries on. A Ray task that is retried in a
new worker process then completes on its second attempt.

Unset (always, outside tests) the hook does nothing.
"""

from __future__ import annotations

import os
import threading
from collections import Counter

ENV_VAR = "ANALYTICS_TEST_FAIL_AT"
ONCE_VAR = "ANALYTICS_TEST_FAIL_ONCE"
POINTS = ("after_extract", "mid_write", "after_write", "after_commit")
EXIT_CODE = 86

_reached: Counter[str] = Counter()
_count_lock = threading.Lock()  # partitions are published by several threads


def fail_point(point: str) -> None:
    """End the process at once if ``ANALYTICS_TEST_FAIL_AT`` names ``point`` and its count."""
    wanted = os.environ.get(ENV_VAR)
    if not wanted:
        return
    name, _, count = wanted.partition(":")
    if name != point:
        return
    with _count_lock:
        _reached[point] += 1
        reached = _reached[point]
    if reached == int(count or 1):
        once = os.environ.get(ONCE_VAR)
        if once:
            try:
                os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return  # another process already ended here
        os._exit(EXIT_CODE)
