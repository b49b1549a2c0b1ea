"""ember: a Spark-style RDD engine with a C core and PySpark's RDD API.

Port a PySpark RDD program by changing its import::

    from ember import SparkContext
    sc = SparkContext("local[*]", "wordcount")
    counts = (sc.textFile("big.txt")
                .flatMap(lambda line: line.split())
                .map(lambda w: (w, 1))
                .reduceByKey(lambda a, b: a + b))
"""

from ember._core import JobCancelledError, PythonException
from ember.accumulators import Accumulator, AccumulatorParam
from ember.broadcast import Broadcast
from ember.conf import SparkConf
from ember.context import SparkContext
from ember.files import SparkFiles
from ember.rdd import RDD, Partitioner, RDDBarrier, ResultIterable, portable_hash
from ember.serializers import CPickleSerializer, MarshalSerializer
from ember.status import SparkJobInfo, SparkStageInfo, StatusTracker
from ember.storagelevel import StorageLevel
from ember.taskcontext import BarrierTaskContext, BarrierTaskInfo, TaskContext

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
    "CPickleSerializer",
    "MarshalSerializer",
    "PythonException",
    "JobCancelledError",
    "portable_hash",
    "__version__",
]
