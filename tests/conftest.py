"""Shared fixtures: one local context for the whole test session."""
import os
import sys

import pytest

from ember import SparkContext


@pytest.fixture(scope="session")
def sc():
    ctx = SparkContext("local[2]", "ember-tests")
    yield ctx
    ctx.stop()


def run_python(code, env=None, timeout=120):
    """Runs code in a fresh interpreter; returns the CompletedProcess."""
    import subprocess
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, timeout=timeout)
