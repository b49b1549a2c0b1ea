"""Logging: ember reports through Python's ``logging``, under the logger ``ember``.

The logger is quiet by default (a ``NullHandler``, as a library should have): an
application that configures ``logging`` sees ember's records through its own handlers,
and one that does not sees nothing. ``SparkContext.setLogLevel`` takes PySpark's level
names and, when nothing else prints log records, adds one console handler on stderr so
that the chosen level is visible, as PySpark's shell shows the JVM's log.
"""

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging

__all__ = ["logger", "LOG_LEVELS", "set_log_level", "info", "warning"]

# PySpark's level names (log4j's) and the logging levels they map to (logging.DEBUG
# is 10 ... logging.CRITICAL is 50).
LOG_LEVELS = {
    "ALL": 1,
    "TRACE": 5,
    "DEBUG": 10,
    "INFO": 20,
    "WARN": 30,
    "ERROR": 40,
    "FATAL": 50,
    "OFF": 51,
}


logger: "logging.Logger"  # no value until first use: see _logger()


def _logger():
    """The ``ember`` logger (``ember.log.logger``), made on first use: importing
    ``logging`` is a noticeable part of start-up, and the driver's first record comes
    after its workers start."""
    made = globals().get("logger")
    if made is None:
        import logging
        made = logging.getLogger("ember")
        made.addHandler(logging.NullHandler())
        globals()["logger"] = made
    return made


def __getattr__(name):
    if name == "logger":
        return _logger()
    raise AttributeError(f"module 'ember.log' has no attribute {name!r}")


def info(msg, *args):
    """Logs ``msg % args`` at INFO on the ``ember`` logger. While nothing has imported
    ``logging``, nothing could show the record (no handler exists and the levels are
    the defaults, WARNING), so the record is dropped without importing it."""
    if "logging" in sys.modules:
        _logger().info(msg, *args)


def warning(msg, *args):
    """Logs ``msg % args`` at WARNING on the ``ember`` logger, when ``logging`` is
    loaded: as for :func:`info`, without it no handler exists that could show the
    record (the ``ember`` logger's own is a NullHandler)."""
    if "logging" in sys.modules:
        _logger().warning(msg, *args)


_console = None


def _console_handler():
    """One stderr handler, formatted like Spark's console log, created on first use."""
    import logging
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
    import logging
    logger = _logger()
    value = LOG_LEVELS[level.upper()]
    logger.setLevel(value)
    # Make the level visible when no handler of the application would print the
    # records; an application that configured logging keeps control of its output.
    if not logging.getLogger().handlers and _console_handler() not in logger.handlers:
        logger.addHandler(_console_handler())
    return value
