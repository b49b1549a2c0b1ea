"""Native code in ember jobs: the typed record format, and C functions over RDDs.

Records cross between Python and native (C) code in ember's typed record format
(``include/ember/record.h``, shipped with this package, see :func:`get_include`):
None, bool, int (any size), float, str, bytes, tuple, list and dict, the exact
built-in types. :func:`dumps` and :func:`loads` convert one record.

C functions with the signatures of ``ember/native.h`` run over RDDs from a shared
library: ``rdd.mapNative(lib, symbol)``, ``flatMapNative``, ``filterNative``,
``mapPartitionsNative``, ``rdd.reduceByKey(native.merge(lib, symbol))`` and
``rdd.partitionBy(n, native.partitioner(lib, symbol))``. :func:`compile` builds such a
library from one C file with the system compiler. The library is loaded by the
worker processes only, never by the driver: a crash in it kills only the worker
running it (the task is retried, then the job fails naming the function and the
signal).
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Any, NoReturn, Optional, Sequence

from ember import _core

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ember.context import SparkContext
    from ember.rdd import RDD, Partitioner

__all__ = ["dumps", "loads", "get_include", "compile", "merge", "partitioner", "call", "Function", "RECORD_VERSION"]

#: The version of the record format this package reads and writes.
RECORD_VERSION = 1


def dumps(obj: Any, where: Optional[str] = None) -> bytes:
    """Encode one Python object as a record in ember's typed record format.

    Parameters
    ----------
    obj : object
        None, bool, int, float, str, bytes, or a tuple, list or dict of these
        (exact types: subclasses such as namedtuples are refused).
    where : str, optional
        Where the object came from, named in the error message when it does not fit.

    Returns
    -------
    bytes

    Raises
    ------
    TypeError
        ``obj`` holds a value of another type; the message names the type and its
        place in the record.

    Examples
    --------
    >>> from ember import native
    >>> native.loads(native.dumps(("word", 1)))
    ('word', 1)
    >>> native.dumps({1, 2})
    Traceback (most recent call last):
        ...
    TypeError: cannot encode set as an ember record: records hold None, bool, int, float, str, bytes, tuple, ...
    """
    return _core.record_dumps(obj, where)


def loads(data: bytes) -> Any:
    """Decode one record made by :func:`dumps` or by native code.

    Parameters
    ----------
    data : bytes
        Exactly one encoded record.

    Returns
    -------
    object

    Raises
    ------
    ValueError
        ``data`` is not exactly one well-formed record.

    Examples
    --------
    >>> from ember import native
    >>> native.loads(native.dumps([None, True, 2 ** 70, 1.5, "é", b"\\x00", {"k": (1,)}]))
    [None, True, 1180591620717411303424, 1.5, 'é', b'\\x00', {'k': (1,)}]
    """
    return _core.record_loads(data)


def get_include() -> str:
    """Return the directory holding ``ember.h`` (and ``ember/record.h``), for
    compiling native functions against this ember.

    Examples
    --------
    >>> import os
    >>> from ember import native
    >>> os.path.exists(os.path.join(native.get_include(), "ember.h"))
    True
    """
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")


def compile(c_file: str, output: Optional[str] = None, cflags: Sequence[str] = ()) -> str:
    """Compile one C file into a shared library of native functions; return its path.

    The file includes ``<ember.h>`` (found in :func:`get_include`) and defines
    functions with the signatures of ``ember/native.h``. The compiler is ``$CC``,
    else ``cc``, run as ``CC -std=c11 -O2 -fPIC -shared -I<include> c_file -o output``
    plus ``cflags``. Without ``output`` the library goes to a cache directory under
    the temporary directory, named after the file and a digest of its source, the
    flags and ember's headers, so an unchanged file is compiled once.

    Parameters
    ----------
    c_file : str
        Path of the C source file.
    output : str, optional
        Path of the library to write.
    cflags : sequence of str, optional
        More compiler arguments (``["-O3", "-march=native"]``, ``["-lm"]`` ...).

    Returns
    -------
    str
        The absolute path of the library.

    Raises
    ------
    FileNotFoundError
        ``c_file`` or the compiler does not exist.
    RuntimeError
        The compiler failed; the message holds its output.

    Examples
    --------
    >>> import os, tempfile
    >>> from ember import native
    >>> d = tempfile.mkdtemp()
    >>> src = os.path.join(d, "plus1.c")
    >>> with open(src, "w") as f:
    ...     _ = f.write("#include <ember.h>\\n"
    ...                 "int plus1(const ember_value *v, ember_writer *out) {\\n"
    ...                 "    return ember_put_int(out, v->i + 1);\\n"
    ...                 "}\\n")
    >>> lib = native.compile(src)
    >>> sc.parallelize([1, 2, 3]).mapNative(lib, "plus1").collect()
    [2, 3, 4]
    """
    import hashlib
    import subprocess
    import tempfile
    c_file = os.path.abspath(c_file)
    with open(c_file, "rb") as f:
        source = f.read()
    include = get_include()
    cc = os.environ.get("CC", "cc")
    cflags = list(cflags)
    if output is None:
        digest = hashlib.sha256(source)
        digest.update(repr((cc, cflags)).encode())
        for root, _, names in sorted(os.walk(include)):
            for name in sorted(names):
                with open(os.path.join(root, name), "rb") as f:
                    digest.update(f.read())
        cache = os.path.join(tempfile.gettempdir(), f"ember-native-{os.getuid()}")
        os.makedirs(cache, exist_ok=True)
        stem = os.path.splitext(os.path.basename(c_file))[0]
        output = os.path.join(cache, f"{stem}-{digest.hexdigest()[:16]}.so")
        if os.path.exists(output):
            return output
    output = os.path.abspath(output)
    partial = f"{output}.{os.getpid()}.tmp"
    cmd = [cc, "-std=c11", "-O2", "-fPIC", "-shared", "-I", include, c_file, "-o", partial] + cflags
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"C compiler {cc!r} not found: install one (e.g. gcc) or set CC to its path") from None
    if proc.returncode != 0:
        if os.path.exists(partial):
            os.unlink(partial)
        raise RuntimeError(f"compiling {c_file} failed (exit code {proc.returncode}):\n"
                           f"$ {' '.join(cmd)}\n{proc.stdout}")
    os.replace(partial, output)
    return output


_KINDS = {"mapNative": _core.NATIVE_MAP, "flatMapNative": _core.NATIVE_FLATMAP,
          "filterNative": _core.NATIVE_FILTER, "merge": _core.NATIVE_MERGE,
          "mapPartitionsNative": _core.NATIVE_PARTITIONS, "partitioner": _core.NATIVE_PARTITIONER}
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class Function:
    """A C function of a shared library, as a job sends it to the workers.

    Made by :meth:`RDD.mapNative` and friends and by :func:`merge`; pickled by
    library path and symbol, and loaded (``_core.NativeFn``) when a worker unpickles
    it. It cannot be called in the driver: native functions run in workers only.
    """

    def __init__(self, lib: str, symbol: str, label: str) -> None:
        if label not in _KINDS:
            raise ValueError(f"unknown kind of native function {label!r}")
        if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
            raise ValueError(f"{label}: {symbol!r} is not the name of a C function")
        if not isinstance(lib, (str, os.PathLike)):
            raise TypeError(f"{label}: the library must be a path (str), got {type(lib).__name__}")
        path = os.path.abspath(os.fspath(lib))
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{label}: no shared library at {path}; build one with ember.native.compile(c_file)")
        self.lib, self.symbol, self.label = path, symbol, label

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Function) and (self.lib, self.symbol, self.label) == (other.lib, other.symbol,
                                                                                       other.label)

    def __hash__(self) -> int:
        return hash((self.lib, self.symbol, self.label))

    def __reduce__(self) -> tuple[Callable[[str, str, str], Any], tuple[str, str, str]]:
        return _load, (self.lib, self.symbol, self.label)

    def __call__(self, *args: Any) -> NoReturn:
        raise RuntimeError(f"{self}: native functions run in the worker processes only, not in the driver "
                           "(use it in an RDD transformation)")

    def __repr__(self) -> str:
        return f"{self.label} {self.symbol} ({self.lib})"


def _load(lib: str, symbol: str, label: str) -> _core.NativeFn | Function:
    """Unpickles a Function: a loaded ``_core.NativeFn`` in a worker, else a Function."""
    from ember.files import SparkFiles
    if SparkFiles._is_running_on_worker:
        return _core.NativeFn(lib, symbol, _KINDS[label], label)
    return Function(lib, symbol, label)


def merge(lib: str, symbol: str) -> Function:
    """A native merge function for :meth:`RDD.reduceByKey` (signature
    ``ember_merge_fn`` in ``ember/native.h``): it merges two values of a key into one.

    Parameters
    ----------
    lib : str
        Path of a shared library built against ``ember.h`` (see :func:`compile`).
    symbol : str
        Name of the function in it.

    Returns
    -------
    Function

    Examples
    --------
    >>> import os, tempfile
    >>> from ember import native
    >>> src = os.path.join(tempfile.mkdtemp(), "add.c")
    >>> with open(src, "w") as f:
    ...     _ = f.write("#include <ember.h>\\n"
    ...                 "int add(const ember_value *a, const ember_value *b, ember_writer *out) {\\n"
    ...                 "    return ember_put_int(out, a->i + b->i);\\n"
    ...                 "}\\n")
    >>> add = native.merge(native.compile(src), "add")
    >>> sorted(sc.parallelize([("a", 1), ("b", 2), ("a", 3)]).reduceByKey(add).collect())
    [('a', 4), ('b', 2)]
    """
    return Function(lib, symbol, "merge")


def partitioner(lib: str, symbol: str) -> Function:
    """A native partitioner for :meth:`RDD.partitionBy` (signature
    ``ember_partitioner_fn`` in ``ember/native.h``): it returns the partition
    (``0 <= p < nparts``) of a key, or a negative code to fail the task.

    Parameters
    ----------
    lib : str
        Path of a shared library built against ``ember.h`` (see :func:`compile`).
    symbol : str
        Name of the function in it.

    Returns
    -------
    Function

    Examples
    --------
    >>> import os, tempfile
    >>> from ember import native
    >>> src = os.path.join(tempfile.mkdtemp(), "by_int.c")
    >>> with open(src, "w") as f:
    ...     _ = f.write("#include <ember.h>\\n"
    ...                 "int64_t by_int(const ember_value *k, size_t nparts) {\\n"
    ...                 "    return (int64_t)((uint64_t)k->i % nparts);\\n"
    ...                 "}\\n")
    >>> by_int = native.partitioner(native.compile(src), "by_int")
    >>> sc.parallelize([(1, "a"), (2, "b"), (4, "c")]).partitionBy(2, by_int).glom().collect()
    [[(2, 'b'), (4, 'c')], [(1, 'a')]]
    """
    return Function(lib, symbol, "partitioner")


def call(lib: str, symbol: str, *rdds: RDD[Any], sc: Optional[SparkContext] = None) -> RDD[Any]:
    """An RDD built by C code: calls ``symbol`` of the shared library ``lib`` (an
    ``ember_build_fn`` of ``ember.h``) in the driver with the engine nodes of ``rdds``;
    it builds a lineage over them with the C API (``ember_node_flat_map``,
    ``ember_node_reduce_by_key`` ...) and returns its last node, an ordinary RDD here.
    Its native steps run in the workers, never in the driver; their records arrive in
    Python as Python objects.

    Parameters
    ----------
    lib : str
        Path of a shared library built against ``ember.h`` (see :func:`compile`).
    symbol : str
        Name of the builder function in it.
    *rdds : RDD
        The RDDs the builder gets as inputs (it may take none).
    sc : SparkContext, optional
        The context, when no RDD is given (default: the active one).

    Returns
    -------
    RDD

    Examples
    --------
    >>> import os, tempfile
    >>> from ember import native
    >>> src = os.path.join(tempfile.mkdtemp(), "squares.c")
    >>> with open(src, "w") as f:
    ...     _ = f.write("#include <ember.h>\\n"
    ...                 "static int square(const ember_value *v, ember_writer *out) {\\n"
    ...                 "    return ember_put_int(out, v->i * v->i);\\n"
    ...                 "}\\n"
    ...                 "int squares(ember_context *ctx, ember_node *const *in, size_t n, ember_node **out) {\\n"
    ...                 "    ember_node *r; int rc = ember_node_range(ctx, 0, 5, 1, 2, &r);\\n"
    ...                 "    if (!rc) rc = ember_node_map(r, square, \\"square\\", out);\\n"
    ...                 "    ember_node_release(r);\\n"
    ...                 "    return rc;\\n"
    ...                 "}\\n")
    >>> native.call(native.compile(src), "squares", sc=sc).collect()
    [0, 1, 4, 9, 16]
    """
    from ember.context import SparkContext
    from ember.rdd import RDD
    if rdds:
        sc = rdds[0].ctx
    elif sc is None:
        sc = SparkContext._active_spark_context
        if sc is None:
            raise ValueError("native.call: no RDD given and no active SparkContext; pass sc=")
    if not isinstance(lib, (str, os.PathLike)) or not os.path.isfile(os.fspath(lib)):
        raise FileNotFoundError(f"native.call: no shared library at {lib}; build one with ember.native.compile(c_file)")
    path = os.path.abspath(os.fspath(lib))
    node = sc._core.call_native(path, symbol, [r._node for r in rdds])
    return RDD(sc, node, deps=tuple(rdds), kind=f"native {symbol}")


# ---- native steps as engine nodes (RDD.mapNative and friends, reduceByKey) -----------

_NOPS = {"mapNative": _core.NOP_MAP, "flatMapNative": _core.NOP_FLATMAP, "filterNative": _core.NOP_FILTER,
         "mapPartitionsNative": _core.NOP_PARTITIONS}


def _step(rdd: RDD[Any], label: str, lib: str, symbol: str, partitioner: Optional[Partitioner]) -> RDD[Any]:
    """An RDD applying a C function of a library (a native command the workers run:
    in C when every step of a task is native, else through ``_core.NativeFn``)."""
    from ember.rdd import RDD
    f = Function(lib, symbol, label)
    cmd = _core.native_command(_NOPS[label], f.lib, f"{f.symbol} ({f.lib})")
    return RDD(rdd.ctx, rdd.ctx._core.pipeline(rdd._node, cmd), partitioner, deps=(rdd,), kind=label)


def _partition_by(rdd: RDD[tuple[Any, Any]], f: Function, numPartitions: Optional[int]) -> RDD[tuple[Any, Any]]:
    """partitionBy with a native partitioner: a native shuffle that moves the records
    as they are (partitioned in C when the map task runs whole in C)."""
    from ember.rdd import RDD, Partitioner
    n = rdd._default_partitions() if numPartitions is None else int(numPartitions)
    if n < 1:
        raise ValueError(f"Number of partitions must be positive, got {numPartitions}")
    if f.label != "partitioner":
        raise TypeError(f"partitionBy takes a partitioner made by ember.native.partitioner, not a {f.label} function")
    spec = _core.native_spec(_core.NSPEC_PARTITION, ((f.lib, f"{f.symbol} ({f.lib})"), None, None, None))
    return RDD(rdd.ctx, rdd.ctx._core.shuffle(rdd._node, n, spec), Partitioner(n, f), deps=(rdd,), kind="partitionBy")


def _reduce_by_key(rdd: RDD[tuple[Any, Any]], f: Function,
                   numPartitions: Optional[int]) -> RDD[tuple[Any, Any]]:
    """reduceByKey with a native merge: a native shuffle (map-side combining in C) and
    the reduce side's merge, partitioned by portable_hash as Python partitions."""
    from ember.rdd import RDD, Partitioner, portable_hash
    n = rdd._default_partitions() if numPartitions is None else int(numPartitions)
    if n < 1:
        raise ValueError(f"Number of partitions must be positive, got {numPartitions}")
    fn = (f.lib, f"{f.symbol} ({f.lib})")
    flags = _core.NSPEC_MERGE_VALUE | _core.NSPEC_MERGE_COMBINERS | _core.NSPEC_COMBINE
    part = Partitioner(n, portable_hash)
    spec = _core.native_spec(flags, (None, None, fn, fn))
    shuffled: RDD[tuple[Any, Any]] = RDD(rdd.ctx, rdd.ctx._core.shuffle(rdd._node, n, spec), part, deps=(rdd,),
                                         kind="shuffle")
    merge = _core.native_command(_core.NOP_MERGE, *fn, str(rdd._memory_limit()))  # spills past it
    return RDD(rdd.ctx, rdd.ctx._core.pipeline(shuffled._node, merge), part, deps=(shuffled,), kind="reduceByKey")


_PY_KINDS = {1: "map", 2: "flatMap", 3: "filter", 4: "mapPartitions"}  # EMBER_PY_* of ember.h


def _python_step(kind: int, function: str) -> list[tuple[int, Any]]:
    """The operations of a Python step a C program added (``ember_node_python``): the
    function named "module:name", imported here in the worker."""
    import importlib
    from ember.worker import OP_PARTITIONS
    module, _, name = function.partition(":")
    try:
        f: Any = importlib.import_module(module)
        for part in name.split("."):
            f = getattr(f, part)
    except (ImportError, AttributeError) as e:
        raise ImportError(f"Python step {function} ({_PY_KINDS.get(kind, kind)}) of a C program: {e}; the workers "
                          f"import from {os.pathsep.join(sys.path)} (the pythonpath of "
                          "ember_context_create_python)") from None
    if not callable(f):
        raise TypeError(f"Python step {function}: {type(f).__name__} object is not callable")
    if kind == 1:
        return [(_core.OP_MAP, f)]
    if kind == 2:
        return [(_core.OP_FLATMAP, f)]
    if kind == 3:
        return [(_core.OP_FILTER, f)]
    if kind == 4:
        return [(OP_PARTITIONS, lambda split, it: f(it))]
    raise ValueError(f"Python step {function}: unknown kind {kind}")


def _native_fn(module: Optional[str], offset: int, name: str, kind: int, label: str) -> _core.NativeFn:
    """A worker's NativeFn for a function named in a native command."""
    if not module:
        raise ValueError(f"{label} {name}: the function lives in the executable of the C program that built "
                         "the job; a Python worker cannot load it: put it in a shared library")
    return _core.NativeFn(module, name.split(" ")[0], kind, label, offset)


def _save_text(path: str, split: int, it: Iterable[Any]) -> tuple[()]:
    final = os.path.join(path, f"part-{split:05d}")
    tmp = os.path.join(path, f".part-{split:05d}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
        for x in it:
            f.write(f"{x}\n")
    os.replace(tmp, final)
    return ()


def _worker_command(data: bytes) -> Any:
    """The operations (ember.worker.apply_ops) of a native command, or the shuffle_write
    arguments of a native spec, for a task a Python worker runs itself (its input
    holds pickled records, or Python steps are mixed in)."""
    from ember import shuffle
    from ember.worker import OP_PARTITIONS
    what = _core.native_decode(data)
    if what[0] == "spec":
        _, flags, fns = what
        part = create = merge = None  # fns: four (module, offset, name) triples
        if flags & _core.NSPEC_PARTITION:  # its partition count is set per task (ember.worker)
            module, offset, name = fns[0]
            part = _native_fn(module, offset, name, _core.NATIVE_PARTITIONER, "partitionBy")
        if flags & _core.NSPEC_CREATE:
            module, offset, name = fns[1]
            create = _native_fn(module, offset, name, _core.NATIVE_MAP, "createCombiner")
        if flags & _core.NSPEC_COMBINE:
            module, offset, name = fns[2]
            merge = _native_fn(module, offset, name, _core.NATIVE_MERGE, "reduceByKey")
        from ember.rdd import _MAP_COMBINE_BYTES, _SHUFFLE_BUFFER
        return part, create, merge, _MAP_COMBINE_BYTES, _SHUFFLE_BUFFER
    _, kind, module, offset, name, arg = what
    if kind == _core.NOP_MAP:
        return [(_core.OP_MAP, _native_fn(module, offset, name, _core.NATIVE_MAP, "mapNative"))]
    if kind == _core.NOP_FLATMAP:
        return [(_core.OP_FLATMAP, _native_fn(module, offset, name, _core.NATIVE_FLATMAP, "flatMapNative"))]
    if kind == _core.NOP_FILTER:
        return [(_core.OP_FILTER, _native_fn(module, offset, name, _core.NATIVE_FILTER, "filterNative"))]
    if kind == _core.NOP_MERGE:
        merge = _native_fn(module, offset, name, _core.NATIVE_MERGE, "reduceByKey")
        limit = int(arg) if arg else shuffle.parse_memory("512m")  # spark.python.worker.memory's bytes
        return [(OP_PARTITIONS, lambda split, it: shuffle.merge_combiners(it, merge, limit))]
    if kind == _core.NOP_COUNT:
        return [(OP_PARTITIONS, lambda split, it: [sum(1 for _ in it)])]
    if kind == _core.NOP_FOREACH:
        each = _native_fn(module, offset, name, _core.NATIVE_FILTER, "foreach")
        return [(OP_PARTITIONS, lambda split, it: [x for x in it if each(x) and False])]
    if kind == _core.NOP_SAVE_TEXT:
        return [(OP_PARTITIONS, lambda split, it: _save_text(arg, split, it))]
    if kind == _core.NOP_PARTITIONS:
        f = _native_fn(module, offset, name, _core.NATIVE_PARTITIONS, "mapPartitionsNative")
        return [(OP_PARTITIONS, lambda split, it: f(it))]
    raise ValueError(f"native command {name}: unknown kind {kind}")
