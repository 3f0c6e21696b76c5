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
longest first, when at least :data:`HELP_FROM` are queued or the second process is gone. Should
that process stop answering (before it is ready, or in a chart), it is killed after
:data:`CHART_TIMEOUT_S`, and the charts it did not return are drawn in this process.

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
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
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


@dataclasses.dataclass
class Worker:
    """The second process that draws charts, started by :func:`start_worker`.

    Attributes:
        pool: a one-process pool (``fork``).
        warm: the process's id, once it is ready to draw.
        pid: the process's id, known at once (to stop it whatever it is doing), or None.
        froze: whether :func:`start_worker` froze this process's objects (:meth:`stop`
            puts them back).
    """

    pool: ProcessPoolExecutor
    warm: Future[int]
    pid: int | None = None
    froze: bool = False
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)
    _stopped: bool = False

    def stop(self, kill: bool = True) -> None:
        """Shut the pool down without waiting and, with ``kill``, end the process at once.

        A process that hangs (in its warm-up or in a chart) would otherwise keep the pool, and
        the interpreter's exit, waiting for it. Safe to call from any thread, and again.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.pool.shutdown(wait=False, cancel_futures=True)
        if kill and self.pid is not None:
            with contextlib.suppress(OSError):  # gone already
                os.kill(self.pid, signal.SIGKILL)
        if self.froze:
            gc.unfreeze()


def start_worker() -> Worker | None:
    """Fork the chart-drawing process now, before the lake's tables are read.

    The child inherits this process's imports (polars, DuckDB) and imports matplotlib itself;
    it holds no DuckDB connection and no open lake file. Unless something froze them already,
    the objects alive at the fork are frozen (:func:`gc.freeze`) until :meth:`Worker.stop`.
    Returns None where no process can be started.
    """
    # the objects alive now (the imported modules, most of them) leave the collector's
    # generations while the export runs: neither process's collections walk them again, and
    # the child's never write to their pages (the gc module's recipe for fork). Over a year of
    # days: 0.25 s less collecting during the export (BENCHMARKS.md, issue 12)
    froze = gc.get_freeze_count() == 0
    if froze:
        gc.freeze()
    try:
        pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("fork"), initializer=_warm
        )
        before = {p.pid for p in multiprocessing.active_children()}
        warm = pool.submit(_warm)  # a fork pool starts its process here
        forked = [p.pid for p in multiprocessing.active_children() if p.pid not in before]
        return Worker(pool, warm, forked[0] if len(forked) == 1 else None, froze)
    except (OSError, RuntimeError):
        if froze:
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
    the file (once that process is ready), nothing is drawn here while the reports run, and
    :meth:`finish` draws those still queued here beside it, so whichever is free draws next.

    Args:
        ctx: the export's context; its ``results`` fill in as reports finish (a report is read
            only after :meth:`report_done` names it).
        fmt: ``png`` or ``svg``.
        worker: draw in a second process (:func:`worth_a_worker`): True starts it now; a
            :class:`Worker` already started (:func:`start_worker`, before the lake is read)
            is used as it is, and stopped by :meth:`finish` or :meth:`abort`.

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
        self._finished = False
        self._halted = False
        self._closing = False
        self._worker = start_worker() if worker is True else worker or None
        if self._worker is not None:
            drawing = threading.Thread(target=self._draw_there, name="charts-worker", daemon=True)
        else:
            drawing = threading.Thread(target=self._draw_here, name="charts", daemon=True)
        self._thread = drawing
        drawing.start()
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

        With a second process, this thread draws the charts still queued beside it, slowest
        kinds first, when at least :data:`HELP_FROM` are (importing matplotlib costs this
        process about 0.8 s, more than one chart's head start is worth) or when the process is
        gone. A chart still waiting for a report that never came is left to
        :func:`charts.draw`. Calling it again does nothing; an error or Ctrl-C while it waits
        or draws stops everything as :meth:`abort` does.
        """
        if self._finished:
            return
        self._finished = True
        try:
            worker = self._worker
            helping = worker is not None and (
                self._queue.qsize() >= HELP_FROM or not self._thread.is_alive()
            )
            if helping:
                self._slowest_first()
            for _ in range(1 + helping):  # one stop for each drawer
                self._queue.put(None)
            if helping:
                self._draw_here()
                if worker is not None and not worker.warm.done():
                    self._closing = True  # no warning: it was not needed after all
                    worker.stop()  # never ready, and nothing is left for it to draw
            self._thread.join()
            if worker is not None:
                worker.pool.shutdown(wait=True, cancel_futures=True)
                worker.stop(kill=False)
        except BaseException:
            self._halt()
            raise
        self.ctx.drawn[self.fmt] = self._drawn

    def _slowest_first(self) -> None:
        """Put the queued charts back slowest first (:data:`charts.SLOW`).

        The two drawers then finish together, instead of one drawing a slow chart last.
        """
        from analytics_framework.exports import charts

        queued = self._take_all()
        for chart in sorted(queued, key=lambda c: c is None or c.name not in charts.SLOW):
            self._queue.put(chart)

    def _take_all(self) -> list[charts.Chart | None]:
        taken: list[charts.Chart | None] = []
        with contextlib.suppress(queue.Empty):
            while True:
                taken.append(self._queue.get_nowait())
        return taken

    def abort(self) -> None:
        """Stop at once, drawing nothing more (the export failed or was interrupted)."""
        if not self._finished:
            self._finished = True
            self._halt()

    def _halt(self) -> None:
        """Drop the queued charts, stop the drawing thread after its chart, kill the worker."""
        if self._halted:
            return
        self._halted = True
        self._take_all()
        self._queue.put(None)  # the thread stops after its chart; it is a daemon
        if self._worker is not None:
            self._worker.stop()

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
        worker = self._worker
        assert worker is not None
        try:
            worker.warm.result(CHART_TIMEOUT_S)  # take charts only once the worker can draw them
        except Exception as exc:  # noqa: BLE001 - no worker: finish() draws the queue here
            if not (self._halted or self._closing):
                log.warning("the chart-drawing process did not start (%s)", type(exc).__name__)
            worker.stop()
            return
        while (chart := self._queue.get()) is not None:
            needs = {n: self.ctx.results[n] for n in chart.needs if n in self.ctx.results}
            part = dataclasses.replace(self.ctx, results=needs, notes=[], drawn={}, ahead=None)
            try:
                future = worker.pool.submit(_render, chart.name, part, self.fmt)
            except RuntimeError:  # stopped meanwhile: this chart and the rest are drawn here
                return
            try:
                self._drawn[chart.name] = future.result(CHART_TIMEOUT_S)
            except (TimeoutError, BrokenExecutor) as exc:
                # the worker hangs or died: this chart and the rest are drawn here, by
                # finish() or charts.draw
                if not (self._halted or self._closing):
                    log.warning("the chart-drawing process stopped (%s)", type(exc).__name__)
                worker.stop()
                return
            except Exception:  # noqa: BLE001 - the chart failed there: drawn again here
                continue
