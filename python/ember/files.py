"""SparkFiles: where the files added with ``sc.addFile`` are, on the driver and in tasks.

In local mode the driver and its workers share one directory, ``userFiles`` in the
context's temp dir: ``addFile`` copies a file there once, and every task finds it
under the same root (each job tells the workers the root).
"""

import os

__all__ = ["SparkFiles"]


class SparkFiles:
    """Resolves paths to files added through :meth:`SparkContext.addFile` or
    :meth:`SparkContext.addPyFile`. It has only class methods; do not create
    instances.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "factor.txt")
    >>> _ = open(path, "w").write("100")
    >>> sc.addFile(path)
    >>> def scale(it):
    ...     with open(SparkFiles.get("factor.txt")) as f:
    ...         k = int(f.read())
    ...     return [x * k for x in it]
    >>> sc.parallelize([1, 2, 3, 4], 2).mapPartitions(scale).collect()
    [100, 200, 300, 400]
    >>> SparkFiles()
    Traceback (most recent call last):
        ...
    NotImplementedError: Do not construct SparkFiles objects
    """

    _root_directory: str | None = None  # set in workers from each job's info (ember.worker)
    _is_running_on_worker = False

    def __init__(self) -> None:
        raise NotImplementedError("Do not construct SparkFiles objects")

    @classmethod
    def get(cls, filename: str) -> str:
        """The absolute path of an added file. The file's existence is not checked.

        Parameters
        ----------
        filename : str
            The name of the file (its last path component when it was added).

        Returns
        -------
        str
            Its path under :meth:`getRootDirectory`.

        Examples
        --------
        >>> SparkFiles.get("data.txt").startswith(SparkFiles.getRootDirectory())
        True
        >>> sc.parallelize([0]).map(lambda _: SparkFiles.get("a.txt")).collect() == [SparkFiles.get("a.txt")]
        True
        """
        return os.path.abspath(os.path.join(cls.getRootDirectory(), filename))

    @classmethod
    def getRootDirectory(cls) -> str:
        """The directory holding the added files.

        Returns
        -------
        str
            An absolute path, the same on the driver and in tasks (local mode).

        Examples
        --------
        >>> import os
        >>> root = SparkFiles.getRootDirectory()
        >>> os.path.isabs(root)
        True
        >>> sc.parallelize([0]).map(lambda _: SparkFiles.getRootDirectory()).collect() == [root]
        True
        """
        if cls._is_running_on_worker:
            assert cls._root_directory is not None  # set before any task runs
            return cls._root_directory
        from ember.context import SparkContext
        sc = SparkContext._active_spark_context
        if sc is None:
            raise RuntimeError("SparkFiles.getRootDirectory() needs a running SparkContext on the driver; "
                               "create one first")
        return sc._files_root()
