"""Where RDDs come from: call sites, the labels of lineage nodes, and the text of
``RDD.toDebugString`` and ``repr(rdd)``.

A call site is the ember method the user called and the user's line that called it
(``"reduceByKey at job.py:12"``), found by walking out of the ember package's frames.
Each context keeps, per engine node id, the label and call site of the RDD that owns
the node (``SparkContext._node_info``), so the lineage of any RDD can be printed from
the engine's graph (``Node.parents``) even after intermediate RDD objects are gone.

The debug string has Spark's shape: ``(N) Label[id] at site [storage level]`` per node,
narrow parents below with `` |  ``, and each shuffle parent opening a new stage with
``+-(N)`` and a deeper indentation. As in Spark, every line shows the storage level of
the RDD the string was asked of.
"""

from ember.traceback_utils import call_site as callsite

__all__ = ["callsite", "LABELS", "node_line", "debug_lines"]

# Engine node kinds, named after the Spark RDD classes that do the same job.
LABELS = {
    "parallelize": "ParallelCollectionRDD",
    "range": "ParallelCollectionRDD",
    "text": "TextFileRDD",
    "pipeline": "PythonRDD",
    "shuffle": "ShuffledRDD",
    "union": "UnionRDD",
    "coalesce": "CoalescedRDD",
    "zip": "ZippedPartitionsRDD2",
    "cartesian": "CartesianRDD",
}


def site_text(site):
    """``method at file:line``.

    Examples
    --------
    >>> site_text(("map", "job.py", 3))
    'map at job.py:3'
    """
    method, filename, line = site
    return f"{method} at {filename}:{line}"


def node_line(ctx, node):
    """``[name ]Label[id] at site`` for a node, from what the context knows of it."""
    info = ctx._node_info.get(node.id)
    if info is None:
        return f"{LABELS.get(node.kind, 'RDD')}[{node.id}]"
    label, site, name = info
    label = label or LABELS.get(node.kind, "RDD")
    prefix = f"{name} " if name else ""
    return f"{prefix}{label}[{node.id}] at {site_text(site)}"


def _parents(ctx, node):
    """(parent, is_shuffle) pairs; a node marked as a leaf (a checkpoint) has none."""
    info = ctx._node_info.get(node.id)
    if info is not None and info[0] in _LEAF_LABELS:
        return []
    return [(p, node.kind == "shuffle") for p in node.parents]


_LEAF_LABELS = ("ReliableCheckpointRDD", "EmptyRDD")


def debug_lines(ctx, node, level_text, head=None):
    """The lines of the debug string of node's lineage. With head (the original node
    of a checkpointed RDD), head is the first line and node its only, narrow, parent."""
    persistence = f" [{level_text}]"

    def children(n, prefix):
        deps = _parents(ctx, n)
        out = []
        for i, (p, shuffle) in enumerate(deps):
            out.extend(dep_lines(p, prefix, shuffle, i == len(deps) - 1))
        return out

    def dep_lines(n, prefix, shuffle, last):
        if not shuffle:
            return [prefix + node_line(ctx, n) + persistence] + children(n, prefix)
        parts = f"({n.num_partitions})"
        offset = (len(parts) - 1) // 2
        import re  # here, not at import: re is a large part of ember's import time
        this_prefix = re.sub(r"\|\s+$", "", prefix)
        next_prefix = this_prefix + ("  " if last else "| ") + " " * offset + "|" + " " * (len(parts) - offset)
        return [f"{this_prefix}+-{parts} {node_line(ctx, n)}{persistence}"] + children(n, next_prefix)

    top = head if head is not None else node
    parts = f"({top.num_partitions})"
    offset = (len(parts) - 1) // 2
    prefix = " " * offset + "|" + " " * (len(parts) - offset)
    first = f"{parts} {node_line(ctx, top)}{persistence}"
    if head is not None:
        return [first] + dep_lines(node, prefix, False, True)
    return [first] + children(node, prefix)
