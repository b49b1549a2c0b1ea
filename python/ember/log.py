"""Logging: ember reports through Python's ``logging``, under the logger ``ember``.

The logger is quiet by default (a ``NullHandler``, as a library should have): an
application that configures ``logging`` sees ember's records through its own handlers,
and one that does not sees nothing. ``SparkContext.setLogLevel`` takes PySpark's level
names and, when nothing else prints log records, adds one console handler on stderr so
that the chosen level is visible, as PySpark's shell shows the JVM's log.
"""

import logging
import sys

__all__ = ["logger", "LOG_LEVELS", "set_log_level"]

logger = logging.getLogger("ember")
logger.addHandler(logging.NullHandler())

# PySpark's level names (log4j's) and the logging levels they map to.
LOG_LEVELS = {
    "ALL": 1,
    "TRACE": 5,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "OFF": logging.CRITICAL + 1,
}

_console = None


def _console_handler():
    """One stderr handler, formatted like Spark's console log, created on first use."""
    global _console
    if _console is None:
        _console = logging.StreamHandler(sys.stderr)
        _console.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s", "%y/%m/%d %H:%M:%S"))
    return _console


def set_log_level(level):
    """Sets the level of the ``ember`` logger from a PySpark level name.

    Parameters
    ----------
    level : str
        One of ALL, DEBUG, ERROR, FATAL, INFO, OFF, TRACE, WARN (any case).

    Returns
    -------
    int
        The ``logging`` level that was set.

    Examples
    --------
    >>> import logging
    >>> from ember.log import set_log_level, logger
    >>> set_log_level("warn") == logging.WARNING, logger.level == logging.WARNING
    (True, True)
    >>> set_log_level("LOUD")
    Traceback (most recent call last):
        ...
    ValueError: Supplied level LOUD did not match one of: ALL,DEBUG,ERROR,FATAL,TRACE,WARN,INFO,OFF
    """
    if not isinstance(level, str) or level.upper() not in LOG_LEVELS:
        # PySpark's text, names in the order Spark lists them.
        raise ValueError(f"Supplied level {level} did not match one of: ALL,DEBUG,ERROR,FATAL,TRACE,WARN,INFO,OFF")
    value = LOG_LEVELS[level.upper()]
    logger.setLevel(value)
    # Make the level visible when no handler of the application would print the
    # records; an application that configured logging keeps control of its output.
    if not logging.getLogger().handlers and _console_handler() not in logger.handlers:
        logger.addHandler(_console_handler())
    return value
