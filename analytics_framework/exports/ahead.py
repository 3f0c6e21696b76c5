"""Charts drawn ahead, while the export computes the reports that feed them.

An export computes its reports one after another (DuckDB, which runs outside the GIL on every
core) and then draws the charts (matplotlib, pure Python under the GIL, about half a second a
chart at 1600 x 900). Drawing each chart as soon as the reports it reads are done overlaps the
two. Over a year of daily reports on 2 cores the ZIP export went from the sum of both steps to
about the longer one (BENCHMARKS.md, issue 12).

On a machine with more than one core, once the lake is big enough to be worth it, the charts are
drawn in a second process, forked before either process imports matplotlib and before the lake
is read: the child imports matplotlib while this process reads the lake, and it runs nothing but
matplotlib and the chart code, so the libraries' own threads (polars', pyarrow's and jemalloc's,
idle at that point) are never used in it. This process does not draw while its reports run, so
their Python side never waits for the GIL behind a chart; once its own work is done
(:meth:`ChartsAhead.finish`) it draws the charts still queued beside the second process, the
longest first. Should the second process stop answering, a chart it has not returned within
:data:`CHART_TIMEOUT_S` is drawn in this process, the worker is stopped, and the export goes on.

Without a second process a thread draws in this process as the reports arrive — matplotlib's
object API on one Agg canvas per figure, no pyplot state — and its results are taken once it
has stopped. :func:`charts.draw` then uses them (``ExportContext.drawn``) in
:data:`charts.CHARTS` order, adding the notes for skipped charts itself; a chart that could not
be drawn ahead for any other reason (the worker process died, a report was skipped) is drawn
again there, so an error surfaces as it would have without any of this.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import multiprocessing
import os
import queue
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analytics_framework.exports import charts
    from analytics_framework.exports.base import ExportContext

log = logging.getLogger(__name__)

WORKER_MIN_BYTES = 4 * 1024 * 1024
"""Start the second process only for lakes whose conversations files total at least this: small
exports draw their few small charts faster than a second process earns back its start."""

HELP_FROM = 2
"""Charts still queued when the export's own work is done from which it draws some itself."""

CHART_TIMEOUT_S = 120.0
"""Seconds to wait for the worker's chart (one takes about a second) before drawing it here."""


def worth_a_worker(conversations_bytes: int) -> bool:
    """Whether an export over this many bytes of conversations should draw in two processes."""
    return conversations_bytes >= WORKER_MIN_BYTES and (os.cpu_count() or 1) > 1


def _warm() -> int:
    """Worker initializer: ignore Ctrl-C (the export stops the worker; no traceback from it).

    Importing matplotlib (:func:`charts.load`) is the rest of the warm-up.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from analytics_framework.exports import charts

    charts.load()
    return os.getpid()


@dataclasses.dataclass(frozen=True)
class Worker:
    """The second process that draws charts, started by :func:`start_worker`.

    Attributes:
        pool: a one-process pool (``fork``).
        warm: the process's id, once it is ready to draw.
    """

    pool: ProcessPoolExecutor
    warm: Future[int]


def start_worker() -> Worker | None:
    """Fork the chart-drawing process now, before the lake's tables are read.

    The child inherits this process's imports (polars, DuckDB) and imports matplotlib itself;
    it holds no DuckDB connection and no open lake file. The objects alive at the fork are
    frozen (:func:`gc.freeze`) for the rest of this process. Returns None where no process can
    be started.
    """
    # the objects alive now (the imported modules, most of them) leave the collector's
    # generations for the rest of the process (gc.unfreeze() puts them back): neither process's
    # collections walk them again, and the child's never write to their pages (the gc module's
    # recipe for fork). Over a year of days: 0.25 s less collecting during the export and
    # 0.4 s less at exit (BENCHMARKS.md, issue 12)
    gc.freeze()
    try:
        pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("fork"), initializer=_warm
        )
        return Worker(pool, pool.submit(_warm))
    except (OSError, RuntimeError):
        gc.unfreeze()
        return None


def _render(name: str, ctx: ExportContext, fmt: str) -> bytes | str:
    """Draw chart ``name`` in the worker: its file's bytes, or the reason it was skipped."""
    from analytics_framework.exports import charts

    chart = next(c for c in charts.CHARTS if c.name == name)
    try:
        return charts.render(chart, ctx, fmt)
    except charts.Skip as exc:
        return str(exc)


class ChartsAhead:
    """Draw :data:`charts.CHARTS` in the background as the reports they read arrive.

    Charts ready to draw wait in one queue. Without ``worker`` a thread draws them in this
    process. With one, a thread hands each chart it takes to the second process and waits for
    the file (once that process has started), and :meth:`finish` draws those still queued here
    beside it, so whichever is free draws next.

    Args:
        ctx: the export's context; its ``results`` fill in as reports finish (a report is read
            only after :meth:`report_done` names it).
        fmt: ``png`` or ``svg``.
        worker: also draw in a second process (:func:`worth_a_worker`): True starts it now,
            so that its imports overlap the first reports; a :class:`Worker` already started
            (:func:`start_worker`) is used as it is.

    Use: :meth:`report_done` after each report is stored in ``ctx.results``; the exporter's
    :func:`charts.draw` calls :meth:`finish` (``ctx.ahead``), and the export calls it again at
    the end; on an error or Ctrl-C the export calls :meth:`abort` instead.
    """

    def __init__(self, ctx: ExportContext, fmt: str, worker: bool | Worker | None = False) -> None:
        from analytics_framework.exports import charts

        self.ctx = ctx
        self.fmt = fmt
        self._done: set[str] = set()
        self._waiting = list(charts.CHARTS)
        self._queue: queue.SimpleQueue[charts.Chart | None] = queue.SimpleQueue()
        self._drawn: dict[str, bytes | str] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._finished = False
        started = start_worker() if worker is True else worker or None
        if started is not None:
            self._pool, self._warm = started.pool, started.warm
            drawing = threading.Thread(target=self._draw_there, name="charts-worker", daemon=True)
        else:
            drawing = threading.Thread(target=self._draw_here, name="charts", daemon=True)
        self._threads = [drawing]
        for thread in self._threads:
            thread.start()
        ctx.ahead = self

    def report_done(self, name: str) -> None:
        """Note that report ``name`` is in ``ctx.results``; queue the charts now complete."""
        self._done.add(name)
        ready = [c for c in self._waiting if all(n in self._done for n in c.needs)]
        for chart in ready:
            self._waiting.remove(chart)
            result = self.ctx.results.get(chart.report)
            if result is not None and result.rows:  # else charts.draw notes it
                self._queue.put(chart)

    def finish(self) -> None:
        """Wait for the charts under way; hand them to ``ctx.drawn[fmt]`` for :func:`charts.draw`.

        With a second process and at least :data:`HELP_FROM` charts still queued, this thread
        draws beside it first (importing matplotlib costs this process about 0.8 s, more than
        one chart's head start is worth), taking the slowest kinds of chart first. A chart
        still waiting for a report that never came is left to :func:`charts.draw`. Calling it
        again does nothing.
        """
        if self._finished:
            return
        self._finished = True
        helping = self._pool is not None and self._queue.qsize() >= HELP_FROM
        if helping:
            self._slowest_first()
        for _ in range(len(self._threads) + helping):
            self._queue.put(None)
        if helping:
            self._draw_here()
        for thread in self._threads:
            thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self.ctx.drawn[self.fmt] = self._drawn

    def _slowest_first(self) -> None:
        """Put the queued charts back slowest first (:data:`charts.SLOW`).

        The two drawers then finish together, instead of one drawing a slow chart last.
        """
        from analytics_framework.exports import charts

        queued = []
        with contextlib.suppress(queue.Empty):
            while True:
                queued.append(self._queue.get_nowait())
        for chart in sorted(queued, key=lambda c: c.name not in charts.SLOW):
            self._queue.put(chart)

    def abort(self) -> None:
        """Stop at once, drawing nothing more (the export failed or was interrupted)."""
        if self._finished:
            return
        self._finished = True
        for _ in self._threads:
            self._queue.put(None)  # each stops after its chart; they are daemons
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _draw_here(self) -> None:
        from analytics_framework.exports import charts

        while (chart := self._queue.get()) is not None:
            try:
                self._drawn[chart.name] = charts.render(chart, self.ctx, self.fmt)
            except charts.Skip as exc:
                self._drawn[chart.name] = str(exc)
            except Exception:  # noqa: BLE001 - drawn again by charts.draw, which raises
                continue

    def _draw_there(self) -> None:
        assert self._pool is not None
        try:
            self._warm.result(CHART_TIMEOUT_S)  # take charts only once the worker can draw them
        except Exception:  # noqa: BLE001 - no worker: the other thread draws everything
            self._stop_worker()
            return
        while (chart := self._queue.get()) is not None:
            needs = {n: self.ctx.results[n] for n in chart.needs if n in self.ctx.results}
            part = dataclasses.replace(self.ctx, results=needs, notes=[], drawn={}, ahead=None)
            try:
                self._drawn[chart.name] = self._pool.submit(
                    _render, chart.name, part, self.fmt
                ).result(CHART_TIMEOUT_S)
            except TimeoutError:  # the worker hangs: stop it; this chart is drawn again there
                log.warning("the chart-drawing process did not answer in %.0f s", CHART_TIMEOUT_S)
                self._stop_worker()
                return
            except Exception:  # noqa: BLE001 - the worker died or failed: drawn again there
                continue

    def _stop_worker(self) -> None:
        """Stop a worker that does not answer (its pool would wait for it at shutdown)."""
        assert self._pool is not None
        pool, self._pool = self._pool, None
        pool.shutdown(wait=False, cancel_futures=True)
        if self._warm.done() and self._warm.exception() is None:
            with contextlib.suppress(OSError):  # gone already
                os.kill(self._warm.result(), signal.SIGKILL)
