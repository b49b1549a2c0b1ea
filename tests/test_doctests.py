"""Runs the examples in every public docstring against the shared context."""
import doctest
import importlib
import tempfile

import pytest

MODULES = ["ember.context", "ember.rdd", "ember.conf", "ember.storagelevel", "ember.taskcontext",
           "ember.broadcast", "ember.accumulators", "ember.files", "ember.status",
           "ember.log", "ember.progress", "ember.traceback_utils", "ember.shell", "ember.submit",
           "ember.resultiterable", "ember.shuffle", "ember.rddsampler",
           "ember.statcounter", "ember._hyperloglog", "ember._files", "ember._lineage", "ember._blocks",
           "ember.serializers", "ember.profiler", "ember.native", "ember._commands", "ember.util",
           "ember.sql.types", "ember.sql.session", "ember.sql.dataframe"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(sc, name, tmp_path, monkeypatch):
    # The examples make their files with tempfile.mkdtemp(), as users would: here those
    # go under the test's own directory, which pytest removes, not into /tmp for good.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    module = importlib.import_module(name)
    import ember
    # The module's own names, but not its __name__/__file__: examples run as user code.
    own = {k: v for k, v in vars(module).items() if not k.startswith("__")}
    from ember.sql import SparkSession
    globs = {**own, "sc": sc, "spark": SparkSession(sc), **{k: getattr(ember, k) for k in ember.__all__}}
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(module, name, globs=globs)
    assert tests, f"no doctests found in {name}"
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
