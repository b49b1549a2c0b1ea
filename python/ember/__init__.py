"""ember: a Spark-style RDD engine with a C core and PySpark's RDD API.

Port a PySpark RDD program by changing its import::

    from ember import SparkContext
    sc = SparkContext("local[*]", "wordcount")
    counts = (sc.textFile("big.txt")
                .flatMap(lambda line: line.split())
                .map(lambda w: (w, 1))
                .reduceByKey(lambda a, b: a + b))
"""

# The public names, each loaded from its module when first used (PEP 562), so that
# `import ember` is cheap and the worker daemon, which imports ember.worker, loads only
# what workers need.
_SOURCES = {
    "SparkConf": "ember.conf",
    "SparkContext": "ember.context",
    "RDD": "ember.rdd",
    "Partitioner": "ember.rdd",
    "ResultIterable": "ember.rdd",
    "StorageLevel": "ember.storagelevel",
    "TaskContext": "ember.taskcontext",
    "BarrierTaskContext": "ember.taskcontext",
    "BarrierTaskInfo": "ember.taskcontext",
    "RDDBarrier": "ember.rdd",
    "Broadcast": "ember.broadcast",
    "Accumulator": "ember.accumulators",
    "AccumulatorParam": "ember.accumulators",
    "SparkFiles": "ember.files",
    "StatusTracker": "ember.status",
    "SparkJobInfo": "ember.status",
    "SparkStageInfo": "ember.status",
    "SparkExecutorInfo": "ember.status",
    "Profiler": "ember.profiler",
    "BasicProfiler": "ember.profiler",
    "InheritableThread": "ember.util",
    "inheritable_thread_target": "ember.util",
    "CPickleSerializer": "ember.serializers",
    "MarshalSerializer": "ember.serializers",
    "PythonException": "ember._core",
    "JobCancelledError": "ember._core",
    "portable_hash": "ember.rdd",
}

TYPE_CHECKING = False
if TYPE_CHECKING:  # what type checkers and editors see: the same names, eagerly
    from ember._core import JobCancelledError, PythonException
    from ember.accumulators import Accumulator, AccumulatorParam
    from ember.broadcast import Broadcast
    from ember.conf import SparkConf
    from ember.context import SparkContext
    from ember.files import SparkFiles
    from ember.rdd import RDD, Partitioner, RDDBarrier, ResultIterable, portable_hash
    from ember.profiler import BasicProfiler, Profiler
    from ember.serializers import CPickleSerializer, MarshalSerializer
    from ember.status import SparkExecutorInfo, SparkJobInfo, SparkStageInfo, StatusTracker
    from ember.storagelevel import StorageLevel
    from ember.taskcontext import BarrierTaskContext, BarrierTaskInfo, TaskContext
    from ember.util import InheritableThread, inheritable_thread_target


def __getattr__(name):
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module 'ember' has no attribute {name!r}")
    value = getattr(__import__(source, fromlist=(name,)), name)  # importlib would cost start-up time
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_SOURCES))


__version__ = "0.1.0"

__all__ = [
    "SparkConf",
    "SparkContext",
    "RDD",
    "Partitioner",
    "ResultIterable",
    "StorageLevel",
    "TaskContext",
    "BarrierTaskContext",
    "BarrierTaskInfo",
    "RDDBarrier",
    "Broadcast",
    "Accumulator",
    "AccumulatorParam",
    "SparkFiles",
    "StatusTracker",
    "SparkJobInfo",
    "SparkStageInfo",
    "SparkExecutorInfo",
    "Profiler",
    "BasicProfiler",
    "InheritableThread",
    "inheritable_thread_target",
    "CPickleSerializer",
    "MarshalSerializer",
    "PythonException",
    "JobCancelledError",
    "portable_hash",
    "__version__",
]
