"""Call sites: which ember API call of the user's code made an RDD, and where.

An RDD records the call site that created it (``reduceByKey at wordcount.py:12``), as
Spark records a creation site, so that its repr and lineage name the user's operations
rather than ember's internal steps: ``reduceByKey`` builds a shuffle and a pipeline, both
created at the one user call.
"""

import os
import sys
from collections import namedtuple

__all__ = ["CallSite", "call_site"]

CallSite = namedtuple("CallSite", "function file linenum")


_PKG = os.path.dirname(os.path.abspath(__file__)) + os.sep


def call_site():
    """Where the user called ember: ``(function, file, linenum)`` with the outermost
    ember function on the stack and the full path and line of the user's frame that
    called it. ``("<unknown>", "<unknown>", 0)`` when no user frame is found.

    Examples
    --------
    >>> rdd = sc.parallelize([1, 2]).map(str)
    >>> rdd._site.function
    'map'
    """
    frame = sys._getframe(1)
    function = None
    while frame is not None and frame.f_code.co_filename.startswith(_PKG):
        function = frame.f_code.co_name
        frame = frame.f_back
    if frame is None:
        return CallSite(function or "<unknown>", "<unknown>", 0)
    return CallSite(function or frame.f_code.co_name, frame.f_code.co_filename, frame.f_lineno)
