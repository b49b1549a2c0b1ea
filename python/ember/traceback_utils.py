"""Call sites: which ember API call of the user's code made an RDD, and where.

An RDD records the call site that created it (``reduceByKey at wordcount.py:12``), as
Spark records a creation site, so that its repr and lineage name the user's operations
rather than ember's internal steps: ``reduceByKey`` builds a shuffle and a pipeline, both
created at the one user call.
"""

import os
import sys
from collections import namedtuple

__all__ = ["CallSite", "first_spark_call"]

CallSite = namedtuple("CallSite", "function file linenum")


def _in_ember(frame):
    name = frame.f_globals.get("__name__") or ""
    return name == "ember" or name.startswith("ember.")


def first_spark_call():
    """The outermost public ember function on the stack and the user's line that called it.

    Returns
    -------
    CallSite or None
        ``(function, file, linenum)``, file being the base name; None when not
        called from inside ember.

    Examples
    --------
    >>> from ember.traceback_utils import first_spark_call
    >>> rdd = sc.parallelize([1, 2]).map(str)
    >>> rdd._callsite.function
    'map'
    >>> first_spark_call() is None    # called from user code directly
    True
    """
    frame = sys._getframe(1)
    function = None
    while frame is not None and _in_ember(frame):
        name = frame.f_code.co_name
        if not name.startswith(("_", "<")):
            function = name
        frame = frame.f_back
    if function is None or frame is None:
        return None
    return CallSite(function, os.path.basename(frame.f_code.co_filename), frame.f_lineno)
