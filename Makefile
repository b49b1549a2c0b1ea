# The two commands of the quick start: `make demo` and `make test`. Each creates a
# virtual environment (.venv), installs what it needs with pip, builds and runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check
DEPS := meson-python meson ninja cloudpickle pytest hypothesis pexpect
# Benchmark-only: the engines ember is compared with, and the harness's chart.
BENCH_DEPS := "pyspark>=3.5,<3.6" "dask[bag]" psutil matplotlib
BENCH_ARGS ?=

.PHONY: demo test ctest pytest install bench clean

$(VENV)/.deps:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install $(DEPS)
	touch $@

install: $(VENV)/.deps
	$(PIP) install --no-build-isolation -Cbuild-dir=build/py .

demo: install
	$(PY) examples/wordcount.py

ctest: $(VENV)/.deps
	@test -f build/c/build.ninja || $(VENV)/bin/meson setup build/c -Dpython=false -Dwerror=true
	$(VENV)/bin/meson compile -C build/c
	@set -e; for t in build/c/test_*; do [ -f $$t ] && [ -x $$t ] || continue; echo "== $$t"; $$t; done

pytest: install
	$(PY) -m pytest -q tests

test: ctest pytest

# The benchmarks side by side with PySpark, Dask Bag and plain Python (bench/run.py;
# BENCH_ARGS="--big" adds the 4 GiB word count). PySpark needs a JVM (Java 17).
$(VENV)/.bench-deps: $(VENV)/.deps
	$(PIP) install $(BENCH_DEPS)
	touch $@

bench: install $(VENV)/.bench-deps
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf build $(VENV)
