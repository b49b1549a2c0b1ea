"""The console progress bar: its exact form on a pseudo-terminal, its rules (half-second
delay, three stages, redraw only on change, erase at job end), the notebook display,
and when it is off."""
import io
import os
import sys
import textwrap
import time

import pytest

from ember import SparkConf, progress
from ember.progress import NotebookSink, ProgressBar, TerminalSink, render, visible_stages

TIMEOUT = 60


def tty():
    out = io.StringIO()
    out.isatty = lambda: True
    return out


class FakeCore:
    """Stands in for _core.Context: active_stages() returns what the test sets."""

    def __init__(self, stages=()):
        self.stages = list(stages)

    def active_stages(self):
        return list(self.stages)


def stage(stage_id, total, done, running, submitted_ms=0, job_id=0):
    return (stage_id, job_id, total, done, running, 0, submitted_ms)


# ---- the line ---------------------------------------------------------------------------

def test_render_matches_pyspark_form_and_cell_arithmetic():
    # The spec's example: 80 columns, one stage, 1 of 4 done -> 59 cells, 14 of them '='.
    line = render([(0, 1, 3, 4)], 80)
    assert line == "[Stage 0:" + "=" * 14 + ">" + " " * 44 + "(1 + 3) / 4]"
    assert len(line) == 80
    assert render([(7, 0, 2, 40)], 50) == "[Stage 7:>" + " " * 27 + "(0 + 2) / 40]"
    assert render([(1, 40, 0, 40)], 50) == "[Stage 1:" + "=" * 27 + "(40 + 0) / 40]"


def test_render_splits_the_width_between_stages_and_drops_the_bar_when_narrow():
    line = render([(1, 1, 1, 2), (2, 0, 1, 2), (3, 0, 0, 2)], 90)
    assert len(line) == 90
    assert [line[i:i + 9] for i in (0, 30, 60)] == ["[Stage 1:", "[Stage 2:", "[Stage 3:"]
    assert line[:30] == "[Stage 1:" + "=" * 4 + ">" + " " * 4 + "(1 + 1) / 2]"
    assert render([(12, 3, 2, 100)], 20) == "[Stage 12:(3 + 2) / 100]"   # no room for cells


def test_visible_stages_waits_half_a_second_and_shows_three_by_id():
    active = [stage(5, 4, 1, 1, submitted_ms=0), stage(2, 4, 0, 2, submitted_ms=0),
              stage(9, 4, 0, 0, submitted_ms=0), stage(3, 4, 0, 0, submitted_ms=900),
              stage(1, 4, 0, 0, submitted_ms=0)]
    assert visible_stages(active, now_ms=1000) == [(1, 0, 0, 4), (2, 0, 2, 4), (5, 1, 1, 4)]
    assert visible_stages(active, now_ms=400) == []


# ---- the bar's rules, driven without its thread ------------------------------------------

def test_bar_draws_only_changes_and_erases_when_the_job_ends():
    out = tty()
    core = FakeCore([stage(0, 4, 1, 3, submitted_ms=0)])
    bar = ProgressBar(core, TerminalSink(out, width=40))
    bar._jobs = 1
    bar._refresh(core.active_stages(), now_ms=300)    # younger than 500 ms: nothing
    assert out.getvalue() == ""
    bar._refresh(core.active_stages(), now_ms=600)
    bar._refresh(core.active_stages(), now_ms=800)    # same text: not written again
    line = render([(0, 1, 3, 4)], 40)
    assert out.getvalue() == "\r" + line
    core.stages = [stage(0, 4, 2, 2, submitted_ms=0)]
    bar._refresh(core.active_stages(), now_ms=1000)
    assert out.getvalue() == "\r" + line + "\r" + render([(0, 2, 2, 4)], 40)
    bar.__exit__(None, None, None)                    # the job ended
    assert out.getvalue().endswith("\r" + " " * 40 + "\r")
    bar.close()


def test_bar_shows_nothing_just_after_a_job_ended():
    out = tty()
    core = FakeCore([stage(3, 2, 0, 1, submitted_ms=0)])
    bar = ProgressBar(core, TerminalSink(out, width=40))
    bar._jobs = 1
    bar._finished_ms = time.monotonic() * 1000.0
    bar._refresh(core.active_stages(), now_ms=bar._finished_ms + 100)
    assert out.getvalue() == ""
    bar._refresh(core.active_stages(), now_ms=bar._finished_ms + 600)
    assert "[Stage 3:" in out.getvalue()
    bar.close()
    assert out.getvalue().endswith(" \r")            # close() erases too


def test_bar_thread_draws_while_a_job_runs_and_stops_on_close():
    out = tty()
    core = FakeCore([stage(0, 10, 5, 2, submitted_ms=0)])
    bar = ProgressBar(core, TerminalSink(out, width=60))
    with bar:
        deadline = time.monotonic() + TIMEOUT
        while "[Stage 0:" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert out.getvalue() == "\r" + render([(0, 5, 2, 10)], 60)
    assert out.getvalue().endswith("\r" + " " * 60 + "\r")
    thread = bar._thread
    assert thread.is_alive()                         # one thread per context, idle between jobs
    bar.close()
    assert not thread.is_alive()
    with bar:                                        # after close: no thread, nothing drawn
        pass
    assert bar._thread is thread


def test_terminal_sink_writes_nothing_when_stderr_is_not_a_terminal():
    out = io.StringIO()
    sink = TerminalSink(out, width=30)
    sink.show("[Stage 0:>  (0 + 1) / 1]")
    sink.clear()
    assert out.getvalue() == ""


def test_width_comes_from_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "123")
    assert progress.terminal_width(io.StringIO()) == 123
    monkeypatch.setenv("COLUMNS", "junk")
    assert progress.terminal_width(io.StringIO()) == 80


# ---- the notebook display -----------------------------------------------------------------

class FakeDisplay:
    """IPython.display.display with display_id=True, recording the texts shown."""

    def __init__(self):
        self.calls = []

    def __call__(self, obj, raw=False, display_id=None):
        assert raw and display_id is True
        self.calls.append(("display", obj["text/plain"]))
        return self

    def update(self, obj, raw=False):
        assert raw
        self.calls.append(("update", obj["text/plain"]))


def test_notebook_display_updates_one_output_in_place():
    display = FakeDisplay()
    core = FakeCore([stage(1, 8, 2, 2, submitted_ms=0)])
    bar = ProgressBar(core, NotebookSink(display, width=60))
    bar._jobs = 1
    bar._refresh(core.active_stages(), now_ms=1000)
    core.stages = [stage(1, 8, 6, 2, submitted_ms=0)]
    bar._refresh(core.active_stages(), now_ms=1200)
    bar._refresh(core.active_stages(), now_ms=1400)
    bar.__exit__(None, None, None)
    assert display.calls == [("display", render([(1, 2, 2, 8)], 60)),
                             ("update", render([(1, 6, 2, 8)], 60)),
                             ("update", "")]
    assert all("\r" not in text and "\x1b" not in text for _, text in display.calls)
    bar.close()


def test_for_context_picks_the_display(monkeypatch):
    on = SparkConf().set("spark.ui.showConsoleProgress", "true")
    assert isinstance(progress.for_context(on, FakeCore(), tty()), ProgressBar)
    assert progress.for_context(on, FakeCore(), io.StringIO()) is progress.NO_PROGRESS
    assert progress.for_context(SparkConf(), FakeCore(), tty()) is progress.NO_PROGRESS
    off = SparkConf().set("spark.ui.showConsoleProgress", "False")
    assert progress.for_context(off, FakeCore(), tty()) is progress.NO_PROGRESS
    with pytest.raises(ValueError, match="spark.ui.showConsoleProgress must be true or false"):
        progress.for_context(SparkConf().set("spark.ui.showConsoleProgress", "yes"), FakeCore(), tty())
    assert not progress.in_notebook()
    display = FakeDisplay()
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(progress, "NotebookSink", lambda: NotebookSink(display))
    bar = progress.for_context(on, FakeCore(), io.StringIO())   # a kernel's stderr is no terminal
    assert isinstance(bar, ProgressBar) and isinstance(bar._sink, NotebookSink)


# ---- on a real pseudo-terminal ---------------------------------------------------------------

PTY_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from ember import SparkConf, SparkContext
    gate = sys.argv[1]
    conf = SparkConf().set("spark.ui.showConsoleProgress", "true")
    sc = SparkContext("local[2]", "bar", conf=conf)
    sc.parallelize(range(3), 3).count()  # starts the workers, which may take a while
    print("WARM", flush=True)
    print("QUICK", sc.parallelize(range(3), 3).count(), flush=True)

    def work(i, it):
        if i > 0:                      # partition 0 finishes; 1 and 2 wait for the gate
            while not os.path.exists(gate):
                time.sleep(0.01)
        return it

    print("SLOW", sc.parallelize(range(3), 3).mapPartitionsWithIndex(work).count(), flush=True)
    sc.stop()
""")


def test_progress_bar_on_a_pseudo_terminal(tmp_path):
    pexpect = pytest.importorskip("pexpect")
    script = tmp_path / "bar.py"
    script.write_text(PTY_SCRIPT)
    gate = tmp_path / "gate"
    env = dict(os.environ, COLUMNS="60")
    env.pop("EMBER_CONF", None)
    child = pexpect.spawn(sys.executable, [str(script), str(gate)], env=env, encoding="utf-8",
                          timeout=TIMEOUT)
    try:
        child.expect("WARM")
        child.expect("QUICK 3")
        assert "[Stage" not in child.before             # a quick job shows no bar
        # The slow job's stage: 1 of 3 tasks done, 2 running; 60 columns -> 39 cells, 13 '='
        # (for a one-digit stage id).
        child.expect(r"\r(\[Stage (\d):[=> ]*\(1 \+ 2\) / 3\])")
        line = child.match.group(1)
        assert line == f"[Stage {child.match.group(2)}:" + "=" * 13 + ">" + " " * 25 + "(1 + 2) / 3]"
        assert len(line) == 60
        gate.touch()
        child.expect_exact("\r" + " " * 60 + "\r")
        child.expect("SLOW 3")
        assert "Stage" not in child.before               # erased before the result
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_no_bar_when_stderr_is_not_a_terminal(tmp_path):
    import subprocess
    code = ("from ember import SparkConf, SparkContext, progress\n"
            "sc = SparkContext('local[1]', conf=SparkConf().set('spark.ui.showConsoleProgress', 'true'))\n"
            "print(sc._progress is progress.NO_PROGRESS, sc.parallelize([1, 2]).count())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "2"]
    assert proc.stderr == ""
