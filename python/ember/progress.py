"""The console progress bar: the running stages on one line of stderr, as PySpark shows them::

    [Stage 3:=====================>                                   (12 + 2) / 40]

Turned on by ``spark.ui.showConsoleProgress=true`` (the ``ember`` shell sets it; scripts
default to off), and shown only where it can be drawn: on a terminal, or, in a Jupyter
notebook, as a text output that updates in place.

Design. A context has one ``ProgressBar``; ``SparkContext._run_job`` runs each job inside
``with ctx._progress:``. The first job starts a daemon thread that sleeps on a condition
variable while no job runs, and otherwise wakes every 200 ms, asks the engine for its
active stages (``_core.Context.active_stages``, which copies a few counters) and redraws
the line when its text changed. The thread holds the GIL only for that copy and a string
format, microseconds per refresh; the job's own thread waits with the GIL released. A job's
end erases the line from the job's thread, under the bar's lock, so the erase always comes
after the last draw and before the REPL prints the job's result. ``close()`` (from
``sc.stop()``) wakes and joins the thread.

Rules (PySpark's): only stages submitted more than 500 ms ago are shown, at most three,
by stage id; nothing is shown in the 500 ms after a job ended; the width is ``$COLUMNS``,
else the terminal's width, else 80, shared by the stages shown; a stage is
``[Stage <id>:`` + bar + ``(<completed> + <running>) / <total>]``, the bar's cells before
``width * completed / total`` being ``=``, that cell ``>``, the rest spaces; the line is
written as ``\\r`` + text, and erased with ``\\r`` + spaces + ``\\r``.
"""

import contextvars
import os
import sys
import threading
import time

__all__ = ["ProgressBar", "TerminalSink", "NotebookSink", "render", "for_context"]

UPDATE_PERIOD_S = 0.2   # spark.ui.consoleProgress.update.interval
FIRST_DELAY_MS = 500    # stages younger than this, and the time after a job ended, show nothing
MAX_STAGES = 3
REDRAW_MS = 60_000      # rewrite an unchanged line after this long (keeps idle ssh sessions alive)


def render(stages, width):
    """The progress line for stages, each ``(stage_id, completed, running, total)``.

    Parameters
    ----------
    stages : list of tuple
        The stages to show, in order.
    width : int
        The line's width in characters, shared equally by the stages.

    Returns
    -------
    str
        The line, without the carriage return.

    Examples
    --------
    >>> from ember.progress import render
    >>> render([(0, 1, 3, 4)], 40)
    '[Stage 0:====>              (1 + 3) / 4]'
    >>> render([(2, 0, 1, 2), (3, 2, 0, 2)], 60)
    '[Stage 2:>        (0 + 1) / 2][Stage 3:=========(2 + 0) / 2]'
    """
    if not stages:
        return ""
    each = width // len(stages)
    out = []
    for stage_id, completed, running, total in stages:
        head = f"[Stage {stage_id}:"
        tail = f"({completed} + {running}) / {total}]"
        cells = each - len(head) - len(tail)
        bar = ""
        if cells > 0:
            done = cells * completed // total if total > 0 else 0
            bar = "=" * done + (">" if done < cells else "") + " " * max(cells - done - 1, 0)
        out.append(head + bar + tail)
    return "".join(out)


def visible_stages(active, now_ms):
    """The stages to draw from ``_core.Context.active_stages()`` tuples: those submitted
    more than 500 ms before now_ms, by stage id, at most three, as render() takes them."""
    shown = sorted(s for s in active if now_ms - s[6] > FIRST_DELAY_MS)[:MAX_STAGES]
    return [(s[0], s[3], s[4], s[2]) for s in shown]


def terminal_width(stream=None):
    """``$COLUMNS`` when set, else the width of the terminal behind stream, else 80."""
    try:
        cols = int(os.environ.get("COLUMNS", ""))
        if cols > 0:
            return cols
    except ValueError:
        pass
    try:
        return os.get_terminal_size((stream or sys.stderr).fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


class TerminalSink:
    """Draws the line on a terminal stream: ``\\r`` + text; erases with spaces.

    Parameters
    ----------
    stream : file, optional
        Where to write; default: the current ``sys.stderr``. Nothing is written while
        the stream is not a terminal.
    width : int, optional
        A fixed line width; default: ``terminal_width()`` at each draw.

    Examples
    --------
    >>> import io
    >>> from ember.progress import TerminalSink
    >>> out = io.StringIO()
    >>> out.isatty = lambda: True
    >>> sink = TerminalSink(out, width=24)
    >>> sink.show("[Stage 0:>  (0 + 1) / 1]"); sink.clear()
    >>> out.getvalue()
    '\\r[Stage 0:>  (0 + 1) / 1]\\r                        \\r'
    """

    def __init__(self, stream=None, width=None):
        self._stream = stream
        self._width = width
        self._shown = 0

    def _out(self):
        stream = self._stream if self._stream is not None else sys.stderr
        try:
            return stream if stream is not None and stream.isatty() else None
        except (AttributeError, ValueError):
            return None

    def width(self):
        """The line width to render for."""
        return self._width or terminal_width(self._out())

    def show(self, text):
        """Draws text over the current line."""
        out = self._out()
        if out is not None:
            out.write("\r" + text)
            out.flush()
            self._shown = max(self._shown, len(text))

    def clear(self):
        """Erases what show() drew, leaving the cursor at the start of the line."""
        out = self._out()
        if out is not None and self._shown:
            out.write("\r" + " " * self._shown + "\r")
            out.flush()
        self._shown = 0


class NotebookSink:
    """Shows the line in a Jupyter notebook as a text output updated in place
    (a display with a ``display_id``), in the cell that runs the job.

    Parameters
    ----------
    display : callable, optional
        ``IPython.display.display``, or a stand-in taking the same arguments and
        returning an object with ``update(obj, raw=True)``.
    width : int, optional
        The line width (default 80).

    Examples
    --------
    >>> from ember.progress import NotebookSink
    >>> class Handle:
    ...     def update(self, obj, raw=False): print("update", repr(obj["text/plain"]))
    >>> def display(obj, raw=False, display_id=None):
    ...     print("display", repr(obj["text/plain"])); return Handle()
    >>> sink = NotebookSink(display)
    >>> sink.show("[Stage 0:>  (0 + 1) / 1]")
    display '[Stage 0:>  (0 + 1) / 1]'
    >>> sink.show("[Stage 0:=> (1 + 1) / 2]")
    update '[Stage 0:=> (1 + 1) / 2]'
    >>> sink.clear()
    update ''
    """

    def __init__(self, display=None, width=80):
        if display is None:
            from IPython.display import display
        self._display = display
        self._width = width
        self._handle = None

    def width(self):
        """The line width to render for."""
        return self._width

    def show(self, text):
        """Shows text: a new output the first time, then an update of it."""
        bundle = {"text/plain": text}
        if self._handle is None:
            self._handle = self._display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def clear(self):
        """Empties the output; the next show() starts a new one."""
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)
            self._handle = None


class _NoProgress:
    """Stands in for a ProgressBar when progress is off: costs a no-op ``with``."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def close(self):
        pass


NO_PROGRESS = _NoProgress()


class ProgressBar:
    """The progress display of one context: a context manager around each job.

    Parameters
    ----------
    core : ember._core.Context
        Where the active stages come from (anything with ``active_stages()``).
    sink : TerminalSink or NotebookSink
        Where the line is drawn.

    Examples
    --------
    >>> from ember.progress import ProgressBar, TerminalSink
    >>> import io
    >>> class Core:
    ...     def active_stages(self): return [(4, 1, 10, 3, 2, 0, 0)]
    >>> out = io.StringIO(); out.isatty = lambda: True
    >>> bar = ProgressBar(Core(), TerminalSink(out, width=80))
    >>> with bar:
    ...     pass                # a job shorter than half a second shows nothing
    >>> out.getvalue()
    ''
    >>> bar.close()
    """

    def __init__(self, core, sink):
        self._core = core
        self._sink = sink
        self._cond = threading.Condition(threading.Lock())
        self._jobs = 0
        self._closed = False
        self._thread = None
        self._idle = False      # the thread waits for a job (not for its next refresh)
        self._context = None
        self._finished_ms = -FIRST_DELAY_MS - 1.0
        self._last = ""
        self._last_ms = 0.0

    # ---- the job's thread ------------------------------------------------------------

    def __enter__(self):
        with self._cond:
            self._jobs += 1
            # Draw in the job's context: in a notebook that is what routes output to its cell.
            self._context = contextvars.copy_context()
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._loop, name="ember-progress", daemon=True)
                self._thread.start()
            elif self._idle:
                self._cond.notify()   # wake it only from idle: short jobs in a row cost no wake-ups
        return self

    def __exit__(self, *exc):
        with self._cond:
            self._jobs -= 1
            self._finished_ms = time.monotonic() * 1000.0
            self._erase()
        return False

    def close(self):
        """Erases the line and stops the thread; later jobs draw nothing. Idempotent."""
        with self._cond:
            self._closed = True
            self._erase()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # ---- the bar's thread ------------------------------------------------------------------

    def _loop(self):
        while True:
            with self._cond:
                while self._jobs == 0 and not self._closed:
                    self._idle = True
                    self._cond.wait()
                    self._idle = False
                if self._closed:
                    return
                self._cond.wait(UPDATE_PERIOD_S)
                if self._closed:
                    return
                if self._jobs == 0:
                    continue
            try:
                active = self._core.active_stages()
            except Exception:  # the context is being stopped
                continue
            with self._cond:
                context = self._context
                if context is not None:
                    context.run(self._refresh, active, time.monotonic() * 1000.0)

    def _refresh(self, active, now_ms):
        """Draws the line for active stages at now_ms; the caller holds the lock."""
        if self._closed or self._jobs == 0 or now_ms - self._finished_ms < FIRST_DELAY_MS:
            return
        stages = visible_stages(active, now_ms)
        if not stages:
            return
        text = render(stages, self._sink.width())
        if text != self._last or now_ms - self._last_ms > REDRAW_MS:
            self._sink.show(text)
            self._last_ms = now_ms
        self._last = text

    def _erase(self):
        if self._last:
            self._sink.clear()
            self._last = ""


def in_notebook():
    """Whether this process is a Jupyter kernel (ipykernel) running IPython."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def for_context(conf, core, stream=None):
    """The progress display a context should use: a ProgressBar when
    ``spark.ui.showConsoleProgress`` is true and there is a notebook or a terminal
    to draw on, else a no-op stand-in.

    Parameters
    ----------
    conf : SparkConf
        The context's settings.
    core : ember._core.Context
        The engine context.
    stream : file, optional
        The terminal stream (default: ``sys.stderr``).

    Returns
    -------
    ProgressBar or a no-op context manager with ``close()``.

    Examples
    --------
    >>> from ember.progress import for_context, ProgressBar
    >>> import io
    >>> on = SparkConf().set("spark.ui.showConsoleProgress", "true")
    >>> isinstance(for_context(on, None, io.StringIO()), ProgressBar)   # not a terminal
    False
    >>> tty = io.StringIO(); tty.isatty = lambda: True
    >>> isinstance(for_context(on, None, tty), ProgressBar)
    True
    >>> isinstance(for_context(SparkConf(), None, tty), ProgressBar)   # off by default
    False
    """
    value = (conf.get("spark.ui.showConsoleProgress") or "false").strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"spark.ui.showConsoleProgress must be true or false, got {value!r}")
    if value != "true":
        return NO_PROGRESS
    if in_notebook():
        return ProgressBar(core, NotebookSink())
    sink = TerminalSink(stream)
    if sink._out() is None:
        return NO_PROGRESS
    return ProgressBar(core, sink)
