"""Logging: the 'ember' logger is quiet unless asked; setLogLevel takes PySpark's names."""
import logging

import pytest

from conftest import run_python
from ember.log import LOG_LEVELS, logger


@pytest.fixture
def restore_level():
    level = logger.level
    yield
    logger.setLevel(level)


def test_logger_is_quiet_by_default():
    proc = run_python("from ember import SparkContext\n"
                      "sc = SparkContext('local[1]'); print(sc.parallelize([1]).count()); sc.stop()")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"
    assert proc.stderr == ""


def test_records_reach_an_application_that_configures_logging():
    proc = run_python("import logging; logging.basicConfig(level=logging.INFO)\n"
                      "from ember import SparkContext\n"
                      "sc = SparkContext('local[1]', 'logged'); sc.stop()")
    assert proc.returncode == 0, proc.stderr
    assert "INFO:ember:SparkContext started: master=local[1], app=logged, slots=1" in proc.stderr
    assert "SparkContext stopping: app=logged" in proc.stderr


def test_set_log_level_shows_records_on_stderr_without_logging_config():
    proc = run_python("from ember import SparkContext\n"
                      "sc = SparkContext('local[1]', 'chatty')\n"
                      "sc.setLogLevel('info')\n"
                      "sc.stop()\n"
                      "sc2 = SparkContext('local[1]', 'silent'); sc2.setLogLevel('OFF'); sc2.stop()")
    assert proc.returncode == 0, proc.stderr
    assert " INFO ember: SparkContext stopping: app=chatty" in proc.stderr
    assert "started: master=local[1], app=silent" in proc.stderr   # still at INFO
    assert "stopping: app=silent" not in proc.stderr             # after OFF


@pytest.mark.parametrize("name, level", [("ALL", 1), ("TRACE", 5), ("DEBUG", logging.DEBUG),
                                         ("INFO", logging.INFO), ("warn", logging.WARNING),
                                         ("Error", logging.ERROR), ("FATAL", logging.CRITICAL),
                                         ("OFF", logging.CRITICAL + 1)])
def test_set_log_level_maps_pyspark_names(sc, restore_level, name, level):
    sc.setLogLevel(name)
    assert logging.getLogger("ember").level == level


@pytest.mark.parametrize("bad", ["WARNING", "verbose", "", None, 10])
def test_set_log_level_rejects_unknown_levels(sc, restore_level, bad):
    with pytest.raises(ValueError) as info:
        sc.setLogLevel(bad)
    assert f"Supplied level {bad} did not match one of: " in str(info.value)
    assert str(info.value).endswith("ALL,DEBUG,ERROR,FATAL,TRACE,WARN,INFO,OFF")  # PySpark's text
    assert sorted(LOG_LEVELS) == ["ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN"]
