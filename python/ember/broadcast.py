"""Broadcast variables: a read-only value stored once, read by every task.

How a broadcast travels. ``sc.broadcast(value)`` pickles the value once, into a
file in the context's temp dir. Pickling a Broadcast into a task's closure ships
only its id and that path. A worker process loads the file the first time a task
reads ``.value`` (memory-mapped, so a value of hundreds of MB is read once, not
copied per task) and keeps the value for every later task of any job. Each job
tells the workers which broadcasts are alive and at which generation:
``unpersist()`` bumps the generation, so workers drop their copy and reload it on
next use; ``destroy()`` removes the file, and a task still holding the broadcast
fails with a clear error.

A broadcast the driver no longer references is destroyed by itself, file included
(as Spark's ContextCleaner does): a finalizer runs when the driver's Broadcast object
is collected. Whatever holds a command that pickled it keeps it referenced — an
RDD holds its functions, and the broadcasts its pickled command or shuffle spec
captured by name (see ``_dumps_holding``) — so it lives as long as a job may read it.
"""

from __future__ import annotations

import gc
import mmap
import os
import _pickle as pickle  # pickle's C core; pickle.py would import re and enum (see daemon.py)
import _thread  # threading's C core: threading.py is a large part of the worker daemon's imports

from ember._typing import Generic, T

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO

    from ember.context import SparkContext


__all__ = ["Broadcast"]

_MISSING = object()

# Worker process: id -> (generation, value) loaded; the alive broadcasts of the
# running job, id -> generation (None outside a worker).
_loaded: dict[int, tuple[int, object]] = {}
_alive = None


def _set_alive(alive: Any) -> None:
    """Worker: the job's alive broadcasts; drops copies destroyed or unpersisted."""
    global _alive
    _alive = alive
    for bid in [b for b, (gen, _) in _loaded.items() if alive.get(b) != gen]:
        del _loaded[bid]


_capture = _thread._local()  # .held: the list collecting Broadcasts being pickled


def _dumps_holding(dumps: Callable[[Any], bytes], obj: Any) -> tuple[bytes, list[Broadcast[Any]]]:
    """Returns (dumps(obj), [the driver Broadcasts pickled in it]); the caller keeps
    the list for as long as the bytes may run, so those broadcasts stay alive (as
    PySpark's commands keep their broadcast variables)."""
    outer = getattr(_capture, "held", None)
    held: list[Broadcast[Any]] = []
    _capture.held = held
    try:
        return dumps(obj), held
    finally:
        _capture.held = outer


def _free(sc: Any, alive: Any, bid: Any, path: Any) -> None:
    """Destroys broadcast bid: forgets it (workers drop their copy with the next job)
    and removes its file, and in cluster mode the executors' copies. The finalizer of
    a driver Broadcast, and destroy()."""
    alive.pop(bid, None)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    if sc._cluster:
        sc._core.share(os.path.basename(path), remove=True)


# Worker on an executor (cluster mode): (the driver's temp dir, this executor's), set
# with each job's info; a broadcast's file is this executor's copy (SparkContext._share).
_dirs: tuple[str, str] | None = None


def _local_path(path: str) -> str:
    """Where a worker reads the broadcast file the driver names path."""
    if _dirs is not None and path.startswith(_dirs[0] + os.sep):
        return _dirs[1] + path[len(_dirs[0]):]
    return path


def _from_handle(bid: Any, path: Any) -> Any:
    """Unpickles a broadcast shipped in a closure: a handle that loads lazily."""
    b = Broadcast.__new__(Broadcast)
    b._sc = None
    b._id = bid
    b._path = path
    return b


def _invalid(operation: Any) -> Any:
    return RuntimeError(f"[INVALID_BROADCAST_OPERATION] Broadcast can only be {operation} in driver.")


class Broadcast(Generic[T]):
    """A read-only variable made by :meth:`SparkContext.broadcast`: stored once by
    the engine, loaded at most once per worker process, read through ``value`` on
    the driver and in tasks. A Broadcast captured in a closure ships as a small
    handle, never as its value.

    Examples
    --------
    >>> b = sc.broadcast([1, 2, 3, 4, 5])
    >>> b.value
    [1, 2, 3, 4, 5]
    >>> sc.parallelize([0, 0]).flatMap(lambda x: b.value).collect()
    [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    >>> b.unpersist()
    >>> sc.parallelize([0]).map(lambda x: sum(b.value)).collect()
    [15]
    >>> b.destroy()
    >>> b.value
    Traceback (most recent call last):
        ...
    RuntimeError: Attempted to use Broadcast(...) after it was destroyed; broadcast the value again to use it
    """

    # On the driver: the context, the broadcast's id and its file. Made by hand (a path
    # or a stream, no context): None, None and the path (or None).
    _sc: Any
    _id: Any
    _path: Any
    _value: T

    def __init__(self, sc: SparkContext | None = None, value: T | None = None, pickle_registry: Any = None,
                 path: str | None = None, sock_file: BinaryIO | None = None) -> None:
        # Without a context: a Broadcast of a value pickled in the file at path, or
        # read at once from the open binary stream sock_file (as PySpark's workers do).
        if sc is None:
            if path is None and sock_file is None:
                raise ValueError("Broadcast needs a SparkContext (use sc.broadcast(value)), a path or a sock_file")
            self._sc, self._id, self._path = None, None, path
            if sock_file is not None:
                self._value = self.load(sock_file)
            return
        self._sc = sc
        self._id = sc._new_broadcast_id()
        self._path = os.path.join(sc._core.tmpdir, f"broadcast-{self._id}")
        tmp = self._path + ".part"
        try:
            self.dump(value, open(tmp, "wb"))  # type: ignore[arg-type]  # with a context, value is the T
            os.replace(tmp, self._path)
            sc._share(self._path)  # cluster mode: a copy on each executor, sent once
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        sc._broadcast_alive[self._id] = 0
        import weakref  # here: the worker daemon, which loads this module, does not need it
        self._finalizer = weakref.finalize(self, _free, sc, sc._broadcast_alive, self._id, self._path)
        self._finalizer.atexit = False  # stop() removes what is left

    # ---- files ----------------------------------------------------------------

    def dump(self, value: T, f: BinaryIO) -> None:
        """Writes value, pickled, to the open binary file f and closes f.

        Parameters
        ----------
        value : object
            The value to write.
        f : file
            A file open for binary writing.

        Examples
        --------
        >>> import os, tempfile
        >>> b = sc.broadcast(1)
        >>> path = os.path.join(tempfile.mkdtemp(), "v.pkl")
        >>> b.dump({"k": 2}, open(path, "wb"))
        >>> b.load_from_path(path)
        {'k': 2}
        """
        try:
            try:
                pickle.dump(value, f, protocol=5)
            except Exception:
                # Lambdas, classes of __main__: shipped by value, as closures are.
                import cloudpickle
                f.seek(0)
                f.truncate()
                cloudpickle.dump(value, f, protocol=5)
        except Exception as e:
            raise pickle.PicklingError(f"Could not serialize broadcast: {type(e).__name__}: {e}") from e
        finally:
            f.close()

    def load(self, file: BinaryIO) -> T:
        """Reads a pickled value from the open binary file.

        Parameters
        ----------
        file : file
            A file open for binary reading.

        Returns
        -------
        object
            The value.

        Examples
        --------
        >>> import io, pickle
        >>> sc.broadcast(0).load(io.BytesIO(pickle.dumps([1, 2])))
        [1, 2]
        """
        gc.disable()
        try:
            value: T = pickle.load(file)
            return value
        finally:
            gc.enable()

    def load_from_path(self, path: str) -> T:
        """Reads a pickled value from the file at path, memory-mapped: the file's
        bytes are not copied before unpickling.

        Parameters
        ----------
        path : str
            The file.

        Returns
        -------
        object
            The value.

        Examples
        --------
        >>> import os, pickle, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "v.pkl")
        >>> _ = open(path, "wb").write(pickle.dumps("hello"))
        >>> sc.broadcast(0).load_from_path(path)
        'hello'
        """
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                raise EOFError(f"broadcast file {path} is empty")
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        gc.disable()
        try:
            value: T = pickle.loads(mm)
            return value
        finally:
            gc.enable()
            try:
                mm.close()
            except BufferError:  # something kept a view; the mapping goes with it
                pass

    # ---- the value ----------------------------------------------------------------

    @property
    def value(self) -> T:
        """The broadcast value: on the driver loaded from its file on first use; in
        a task loaded once per worker process and shared by later tasks.

        Examples
        --------
        >>> b = sc.broadcast({"a": 1})
        >>> b.value["a"]
        1
        >>> sc.parallelize(["a", "b"]).map(lambda k: b.value.get(k, 0)).collect()
        [1, 0]
        """
        if self._sc is None:
            worker_value: T = self._worker_value()
            return worker_value
        if not hasattr(self, "_value"):
            self._check_alive()
            try:
                self._value = self.load_from_path(self._path)
            except FileNotFoundError:
                raise RuntimeError(f"Broadcast({self._id}) cannot be read: its file {self._path} is gone "
                                   "because its SparkContext was stopped") from None
        return self._value

    def _worker_value(self) -> Any:
        bid = self._id
        got = _loaded.get(bid)
        if got is not None:
            return got[1]
        if _alive is None or bid is None:  # a Broadcast(path=...) made by hand
            v = getattr(self, "_value", _MISSING)
            if v is _MISSING:
                v = self._value = self.load_from_path(self._path)
            return v
        gen = _alive.get(bid)
        if gen is None:
            raise RuntimeError(
                f"[BROADCAST_VARIABLE_NOT_LOADED] Broadcast variable `{bid}` not loaded: it was destroyed "
                "on the driver before this job ran; broadcast the value again and use the new one")
        try:
            v = self.load_from_path(_local_path(self._path))
        except FileNotFoundError:
            raise RuntimeError(
                f"[BROADCAST_VARIABLE_NOT_LOADED] Broadcast variable `{bid}` not loaded: its file "
                f"{self._path} is gone (destroyed, or its SparkContext stopped)") from None
        _loaded[bid] = (gen, v)
        return v

    def _check_alive(self) -> None:
        if self._id not in self._sc._broadcast_alive:
            raise RuntimeError(f"Attempted to use Broadcast({self._id}) after it was destroyed; "
                               "broadcast the value again to use it")

    def unpersist(self, blocking: bool = False) -> None:
        """Drops the copies workers keep; the next task that reads the value loads
        it again. Driver only.

        Parameters
        ----------
        blocking : bool, optional
            Accepted for compatibility: workers drop their copy when their next
            task starts.

        Examples
        --------
        >>> b = sc.broadcast([1, 2])
        >>> b.unpersist()
        >>> sc.parallelize([0]).map(lambda _: b.value).collect()
        [[1, 2]]
        """
        if self._sc is None:
            raise _invalid("unpersisted")
        with self._sc._shared_lock:
            self._check_alive()
            self._sc._broadcast_alive[self._id] += 1

    def destroy(self, blocking: bool = False) -> None:
        """Removes the broadcast everywhere: its file, workers' copies and the
        driver's. Using it afterwards raises an error. Driver only.

        Parameters
        ----------
        blocking : bool, optional
            Accepted for compatibility.

        Examples
        --------
        >>> b = sc.broadcast(7)
        >>> b.destroy()
        >>> sc.parallelize([0]).map(lambda _: b.value).collect()
        Traceback (most recent call last):
            ...
        RuntimeError: Attempted to use Broadcast(...) after it was destroyed; broadcast the value again to use it
        """
        if self._sc is None:
            raise _invalid("destroyed")
        with self._sc._shared_lock:
            self._check_alive()
            self._finalizer()
        self.__dict__.pop("_value", None)

    def __reduce__(self) -> Any:
        if self._sc is None:
            raise _invalid("serialized")
        self._check_alive()
        held = getattr(_capture, "held", None)
        if held is not None:
            held.append(self)
        return _from_handle, (self._id, self._path)

    def __repr__(self) -> str:
        return f"Broadcast({self._id})"

