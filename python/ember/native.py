"""Native code in ember jobs: the typed record format, and C functions over RDDs.

Records cross between Python and native (C) code in ember's typed record format
(``include/ember/record.h``, shipped with this package, see :func:`get_include`):
None, bool, int (any size), float, str, bytes, tuple, list and dict, the exact
built-in types. :func:`dumps` and :func:`loads` convert one record.
"""

import os
from typing import Any, Optional

from ember import _core

__all__ = ["dumps", "loads", "get_include", "RECORD_VERSION"]

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
    TypeError: cannot encode set as an ember record: records hold None, bool, int, float, str, bytes, tuple, list and dict
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
