"""Pickling the commands that workers run, and the functions of ember's own actions.

A command (a pipelined RDD's operations, a shuffle's partition and merge functions)
is pickled by the standard library when every function and class in it can be
imported by name in a worker, as cloudpickle itself would pickle them; only a command
with a lambda, a closure or something defined in ``__main__`` goes through
cloudpickle. Importing cloudpickle costs about as much as starting Python, so a job
whose functions are all importable (``count()``, ``sum()`` below, a function from a
module) needs it in neither the driver nor the workers.

Examples
--------
>>> import pickle
>>> b"cloudpickle" in dumps_command([(0, count)])
False
>>> b"cloudpickle" in dumps_command([(0, lambda split, it: it)])
True
>>> pickle.loads(dumps_command([(0, count)]))[0][1](0, iter("abc"))
[3]
"""

import _pickle as pickle  # pickle's C core; pickle.py would import re and enum (see daemon.py)
import sys

from ember import _core

__all__ = ["dumps_command", "count", "total"]


class _ByValue(Exception):
    """Raised while pickling by name: this object must be pickled by value."""


class _ByName(pickle.Pickler):
    """A pickler that refuses what cloudpickle would pickle by value: functions and
    classes of ``__main__`` (the standard pickler refuses lambdas and closures by
    itself, as their names do not lead back to them)."""

    def reducer_override(self, obj):
        if isinstance(obj, type) or callable(obj) and hasattr(obj, "__code__"):
            if getattr(obj, "__module__", None) in ("__main__", None):
                raise _ByValue
        return NotImplemented


def dumps_command(obj):
    """The pickle (protocol 5) of obj: by the standard library when all its functions
    and classes are importable by name, else by cloudpickle. Once cloudpickle is
    loaded (a user may have registered modules with it to pickle by value), it
    pickles everything."""
    if "cloudpickle" not in sys.modules:
        import io
        buf = io.BytesIO()
        try:
            _ByName(buf, protocol=5).dump(obj)
            return buf.getvalue()
        except Exception:  # noqa: BLE001 - any failure: let cloudpickle decide
            pass
    from ember.serializers import cloudpickle_dumps  # code objects keep their file names
    return cloudpickle_dumps(obj, 5)


def count(split, iterator):
    """The partition function of RDD.count: [number of records]."""
    return [_core.count(iterator)]


def total(split, iterator):
    """The partition function of RDD.sum: [sum of the records, from 0]."""
    return [sum(iterator, 0)]
