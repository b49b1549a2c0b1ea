"""Native code in ember jobs: the typed record format, and C functions over RDDs.

Records cross between Python and native (C) code in ember's typed record format
(``include/ember/record.h``, shipped with this package, see :func:`get_include`):
None, bool, int (any size), float, str, bytes, tuple, list and dict, the exact
built-in types. :func:`dumps` and :func:`loads` convert one record.

C functions with the signatures of ``ember/native.h`` run over RDDs from a shared
library: ``rdd.mapNative(lib, symbol)``, ``flatMapNative``, ``filterNative``, and
``rdd.reduceByKey(native.merge(lib, symbol))``. :func:`compile` builds such a
library from one C file with the system compiler. The library is loaded by the
worker processes only, never by the driver: a crash in it kills only the worker
running it (the task is retried, then the job fails naming the function and the
signal).
"""

import hashlib
import os
import re
import subprocess
import tempfile
from typing import Any, Optional, Sequence

from ember import _core

__all__ = ["dumps", "loads", "get_include", "compile", "merge", "Function", "RECORD_VERSION"]

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
          "filterNative": _core.NATIVE_FILTER, "merge": _core.NATIVE_MERGE}
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class Function:
    """A C function of a shared library, as a job sends it to the workers.

    Made by :meth:`RDD.mapNative` and friends and by :func:`merge`; pickled by
    library path and symbol, and loaded (``_core.NativeFn``) when a worker unpickles
    it. It cannot be called in the driver: native functions run in workers only.
    """

    def __init__(self, lib: str, symbol: str, label: str):
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

    def __reduce__(self):
        return _load, (self.lib, self.symbol, self.label)

    def __call__(self, *args):
        raise RuntimeError(f"{self}: native functions run in the worker processes only, not in the driver "
                           "(use it in an RDD transformation)")

    def __repr__(self):
        return f"{self.label} {self.symbol} ({self.lib})"


def _load(lib, symbol, label):
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
