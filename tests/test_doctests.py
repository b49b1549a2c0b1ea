"""Runs the examples in every public docstring against the shared context."""
import doctest
import importlib

import pytest

MODULES = ["ember.context", "ember.rdd", "ember.conf", "ember.storagelevel", "ember.taskcontext",
           "ember.statcounter", "ember._sampling", "ember._hyperloglog", "ember._files", "ember._lineage"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(sc, name):
    module = importlib.import_module(name)
    import ember
    globs = {**vars(module), "sc": sc, **{k: getattr(ember, k) for k in ember.__all__}}
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(module, name, globs=globs)
    assert tests, f"no doctests found in {name}"
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
