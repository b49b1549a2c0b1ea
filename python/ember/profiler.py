"""Python profiling of tasks, as ``pyspark.profiler`` (``spark.python.profile=true``).

How it works. With the setting on, each pipelined RDD that runs gets a profiler
(``profiler_cls``, by default :class:`BasicProfiler`) that travels with its command.
A worker running a task whose computed RDD has one runs the whole task (reading its
input, the user's functions, writing its output) under ``cProfile``; the task's
``pstats.Stats`` reach the driver through an accumulator, like any accumulator
update, and add up per RDD. ``sc.show_profiles()`` prints them, ``sc.dump_profiles``
writes ``rdd_<id>.pstats`` files; at exit they are shown, or dumped to
``spark.python.profile.dump`` when that is set.
"""

from __future__ import annotations

import atexit
import os
import _thread  # threading's C core: threading.py is start-up time SparkContext() does not need

from ember.accumulators import AccumulatorParam

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ember.accumulators import Accumulator
    from ember.context import SparkContext

__all__ = ["Profiler", "BasicProfiler", "UDFBasicProfiler", "MemoryProfiler", "ProfilerCollector", "PStatsParam",
           "MemUsageParam"]

OP_PROFILER = -1  # a pipeline command's first op when its RDD is profiled: (OP_PROFILER, profiler)


def _incorrect_conf() -> Any:
    return RuntimeError(
        "[INCORRECT_CONF_FOR_PROFILE] `spark.python.profile` or `spark.python.profile.memory` configuration "
        "must be set to `true` to enable Python profile.")


class ProfilerCollector:
    """Keeps the profilers of a context, one per profiled RDD, and makes new ones."""

    def __init__(self, profiler_cls: type[Profiler], udf_profiler_cls: type[Profiler] | None = None,
                 dump_path: str | None = None) -> None:
        self.profiler_cls = profiler_cls
        self.udf_profiler_cls = udf_profiler_cls
        self.profile_dump_path = dump_path
        self.memory_profiler_cls: type[Profiler] | None = None  # set by the context: the class it was given
        self.profilers: list[list[Any]] = []  # [rdd id, profiler, shown]
        self._lock = _thread.allocate_lock()

    def new_profiler(self, ctx: SparkContext) -> Profiler:
        """A new profiler of ``profiler_cls``."""
        return self.profiler_cls(ctx)

    def new_udf_profiler(self, ctx: SparkContext) -> Profiler:
        """A new profiler of ``udf_profiler_cls``."""
        if self.udf_profiler_cls is None:
            raise RuntimeError("this ProfilerCollector was made without a udf_profiler_cls")
        return self.udf_profiler_cls(ctx)

    def add_profiler(self, id: int, profiler: Profiler) -> None:
        """Records the profiler of RDD id. The first one registers the exit-time
        show (or dump to ``spark.python.profile.dump``)."""
        with self._lock:
            if not self.profilers:
                if self.profile_dump_path:
                    atexit.register(self.dump_profiles, self.profile_dump_path)
                else:
                    atexit.register(self.show_profiles)
            self.profilers.append([id, profiler, False])

    def dump_profiles(self, path: str) -> None:
        """Writes each profiler's stats under path, then forgets them."""
        with self._lock:
            profilers, self.profilers = self.profilers, []
        for id, profiler, _ in profilers:
            if _ran(profiler):
                profiler.dump(id, path)

    def show_profiles(self) -> None:
        """Prints the stats of the profilers not shown yet."""
        with self._lock:
            pending = [entry for entry in self.profilers if not entry[2] and _ran(entry[1])]
            for entry in pending:
                entry[2] = True
        for id, profiler, _ in pending:
            profiler.show(id)


def _print_heading(profiled: Any, id: Any) -> None:
    """The heading show() prints above a profile: "Profile of RDD<id=3>" between rules."""
    print("=" * 60)
    print("Profile of %s<id=%d>" % (profiled, id))
    print("=" * 60)


def _ran(profiler: Any) -> Any:
    """False for a BasicProfiler that profiled no task: ember gives an RDD its
    engine node (and profiler) sooner than PySpark gives one its JVM RDD, e.g. when
    an action fuses it into another RDD, so such profilers are left out."""
    acc = getattr(profiler, "_accumulator", None)
    return acc is None or acc.value is not None


class Profiler:
    """The interface of a profiler class (``SparkContext(profiler_cls=...)``): it
    profiles a task (``profile``), returns the collected stats (``stats``), prints
    them (``show``) and writes them (``dump``).

    Examples
    --------
    >>> class MyCustomProfiler(BasicProfiler):
    ...     def show(self, id):
    ...         print("My custom profiles for RDD:%s" % id)
    >>> MyCustomProfiler(sc).show(3)
    My custom profiles for RDD:3
    """

    def __init__(self, ctx: SparkContext) -> None:
        pass

    def profile(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Runs func(*args, **kwargs) under the profiler; returns its result."""
        raise NotImplementedError(f"{type(self).__name__} must define profile()")

    def stats(self) -> Any:
        """The stats collected so far."""
        raise NotImplementedError(f"{type(self).__name__} must define stats()")

    def show(self, id: int) -> None:
        """Prints the stats of RDD id."""
        raise NotImplementedError(f"{type(self).__name__} must define show()")

    def dump(self, id: int, path: str) -> None:
        """Writes the stats of RDD id under the directory path."""
        raise NotImplementedError(f"{type(self).__name__} must define dump()")


class PStatsParam(AccumulatorParam["Any"]):
    """Adds up ``pstats.Stats`` (None is the zero)."""

    @staticmethod
    def zero(value: Any) -> None:
        return None

    @staticmethod
    def addInPlace(value1: Any, value2: Any) -> Any:
        if value1 is None:
            return value2
        if value2 is not None:
            value1.add(value2)
        return value1


class BasicProfiler(Profiler):
    """The default profiler: cProfile in the worker, stats added up on the driver
    through an accumulator.

    Examples
    --------
    >>> p = BasicProfiler(sc)
    >>> p.profile(sum, [1, 2, 3])
    6
    >>> p.stats().total_calls > 0
    True
    """

    def __init__(self, ctx: SparkContext) -> None:
        super().__init__(ctx)
        self._accumulator: Accumulator[Any] = ctx.accumulator(None, PStatsParam())

    def profile(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        result = prof.runcall(func, *args, **kwargs)
        st = pstats.Stats(prof)
        st.stream = None  # type: ignore[attr-defined]  # picklable; printing goes to sys.stdout
        st.strip_dirs()
        self._accumulator.add(st)
        return result

    def stats(self) -> Any:
        return self._accumulator.value

    _profiled = "RDD"             # show's heading: "Profile of RDD<id=...>"
    _dump_name = "rdd_%d.pstats"  # dump's file name

    def show(self, id: int) -> None:
        st = self.stats()
        if st:
            _print_heading(self._profiled, id)
            st.sort_stats("time", "cumulative").print_stats()

    def dump(self, id: int, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        st = self.stats()
        if st:
            st.dump_stats(os.path.join(path, self._dump_name % id))


class UDFBasicProfiler(BasicProfiler):
    """The profiler PySpark uses for SQL UDFs; ember has no UDFs, the class is
    here so that ``udf_profiler_cls`` takes the same values."""

    _profiled = "UDF"
    _dump_name = "udf_%d.pstats"


class MemUsageParam(AccumulatorParam["Any"]):
    """Adds up memory profiles: {file name: [(line number, (increment MiB, memory
    MiB, occurrences)), ...]} (None is the zero); the figures of a line present in
    both add up.

    Examples
    --------
    >>> MemUsageParam.addInPlace({"f.py": [(3, (1.0, 10.0, 1))]}, {"f.py": [(3, (0.5, 10.0, 2)), (4, (0.0, 9.0, 1))]})
    {'f.py': [(3, (1.5, 20.0, 3)), (4, (0.0, 9.0, 1))]}
    """

    @staticmethod
    def zero(value: Any) -> None:
        return None

    @staticmethod
    def addInPlace(value1: Any, value2: Any) -> Any:
        if not value1:
            return value2
        if not value2:
            return value1
        for filename in value1:
            c1 = dict(value1.get(filename) or [])
            c2 = dict(value2.get(filename) or [])
            merged = {}
            for lineno in sorted(set(c1) | set(c2)):
                a, b = c1.get(lineno), c2.get(lineno)
                merged[lineno] = (a[0] + b[0], a[1] + b[1], a[2] + b[2]) if a and b else (a or b)
            value1[filename] = sorted(merged.items())
        return value1


class MemoryProfiler(Profiler):
    """The line-by-line memory profiler PySpark uses for SQL UDFs
    (``memory_profiler_cls``), through the ``memory_profiler`` package. ember has no
    UDFs; the class is here so that ``memory_profiler_cls`` takes the same values,
    and it profiles a function called with :meth:`profile` when that package is
    installed.

    Examples
    --------
    >>> p = MemoryProfiler(sc)
    >>> p.stats() is None
    True
    >>> MemoryProfiler._show_results({})
    """

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self._accumulator: Accumulator[Any] = ctx.accumulator(None, MemUsageParam())

    # PySpark's signature: the UDF's source hints come first.
    def profile(  # type: ignore[override]
            self, sub_lines: Any, start_line: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Runs func(*args, **kwargs) under ``memory_profiler``'s line profiler and
        adds its code map to the stats (``sub_lines``/``start_line`` are PySpark's UDF
        source hints, unused here)."""
        try:
            from memory_profiler import LineProfiler
        except ImportError:
            raise RuntimeError("[MISSING_LIBRARY_FOR_PROFILER] Install the 'memory_profiler' library in the "
                               "cluster to enable memory profiling (pip install memory-profiler).") from None
        profiler = LineProfiler()
        result = profiler(func)(*args, **kwargs)
        self._accumulator.add({filename: list(lines) for filename, lines in profiler.code_map.items()})
        return result

    def stats(self) -> Any:
        return self._accumulator.value

    @staticmethod
    def _show_results(code_map: Any, stream: Any = None, precision: Any = 1) -> None:
        import linecache
        import sys
        stream = stream or sys.stdout
        template = "{0:>6} {1:>12} {2:>12}  {3:>10}   {4:<}"
        mem_format = "{0:" + f"{precision + 4}.{precision}f" + "} MiB"
        for filename, lines in code_map.items():
            header = template.format("Line #", "Mem usage", "Increment", "Occurrences", "Line Contents")
            stream.write("Filename: " + filename + "\n\n" + header + "\n" + "=" * len(header) + "\n")
            source = linecache.getlines(filename)
            if not source:
                raise ValueError(f"[MEMORY_PROFILE_INVALID_SOURCE] Memory profiler can only be used on editors "
                                 f"with line numbers: the source of {filename} cannot be read.")
            by_line = dict(lines)
            for lineno in range(min(by_line), max(by_line) + 1):
                mem = by_line.get(lineno)
                cells = ((mem_format.format(mem[1]), mem_format.format(mem[0]), mem[2]) if mem else ("", "", ""))
                stream.write(template.format(lineno, *cells, source[lineno - 1] if lineno <= len(source) else "\n"))
            stream.write("\n\n")

    def show(self, id: int) -> None:
        code_map = self.stats()
        if code_map:
            _print_heading("UDF", id)
            self._show_results(code_map)

    def dump(self, id: int, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        code_map = self.stats()
        if code_map:
            with open(os.path.join(path, "udf_%d_memory.txt" % id), "w", encoding="utf-8") as f:
                self._show_results(code_map, stream=f)
