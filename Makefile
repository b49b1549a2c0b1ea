# The two commands of the quick start: `make demo` and `make test`. Each creates a
# virtual environment (.venv), installs what it needs with pip, builds and runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check
DEPS := meson-python meson ninja cloudpickle pytest hypothesis pexpect

.PHONY: demo test ctest pytest install clean

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

clean:
	rm -rf build $(VENV)
