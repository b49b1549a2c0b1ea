# The two commands of the quick start: `make demo` and `make test`. Each creates a
# virtual environment (.venv), installs what it needs with pip, builds and runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check
PYBUILD := build/py
PYTEST_ARGS :=
DEPS := meson-python meson ninja cloudpickle pytest hypothesis pexpect ipython numpy mypy ruff
# The PySpark release ember is compared with: by the differential tests (`make test`
# installs it; they need a Java runtime) and by the benchmarks.
PYSPARK := pyspark==4.3.0
# Benchmark-only: the engines ember is compared with, and the harness's chart.
BENCH_DEPS := "dask[bag]" psutil matplotlib
BENCH_ARGS ?=
# `make docs`: the site (docs/*.md and the API reference from the docstrings) into build/docs.
DOCS_DEPS := mkdocs "mkdocstrings[python]"

.PHONY: demo test ctest ctest-asan pytest asan tsan fuzz install bench cluster-test clean test-pythons lint docs format

# The decoders of bytes from a pipe or a file that have a fuzz target (tests/fuzz/fuzz_<name>.c,
# seeds in tests/fuzz/corpus/<name>); `make test` replays each corpus.
FUZZ_TARGETS := wire record lines seqfile shuffle native blocks mpi
FUZZ_SECONDS ?= 180

$(VENV)/.deps: Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip  # 3.10's pip has no -C (--config-settings) below
	$(PIP) install $(DEPS)
	touch $@

# Warnings are errors in the extension too (its C files and libember's).
install: $(VENV)/.deps
	$(PIP) install --no-build-isolation -Cbuild-dir=$(PYBUILD) -Csetup-args=-Dwerror=true .

demo: install
	$(PY) examples/wordcount.py

ctest: $(VENV)/.deps
	@test -f build/c/build.ninja || $(VENV)/bin/meson setup build/c -Dpython=false -Dwerror=true
	$(VENV)/bin/meson compile -C build/c
	@set -e; for t in build/c/test_*; do [ -f $$t ] && [ -x $$t ] || continue; echo "== $$t"; $$t; done
	@set -e; for f in $(FUZZ_TARGETS); do echo "== fuzz_$$f corpus"; build/c/fuzz_$${f}_replay tests/fuzz/corpus/$$f; done
	@echo "== examples/c/wordcount (a C-only job)"; build/c/wordcount examples/data/ember.txt 'local[2]'

# The C unit tests again under AddressSanitizer and UBSan.
ctest-asan: $(VENV)/.deps
	@test -f build/c-asan/build.ninja || $(VENV)/bin/meson setup build/c-asan -Dpython=false \
		-Dwerror=true -Db_sanitize=address,undefined -Dbuildtype=debug
	$(VENV)/bin/meson compile -C build/c-asan
	@set -e; for t in build/c-asan/test_*; do [ -f $$t ] && [ -x $$t ] || continue; \
		echo "== $$t (asan)"; UBSAN_OPTIONS=halt_on_error=1 $$t; done
	@set -e; for f in $(FUZZ_TARGETS); do echo "== fuzz_$$f corpus (asan)"; \
		UBSAN_OPTIONS=halt_on_error=1 build/c-asan/fuzz_$${f}_replay tests/fuzz/corpus/$$f; done
	@echo "== examples/c/wordcount (asan)"; UBSAN_OPTIONS=halt_on_error=1 build/c-asan/wordcount examples/data/ember.txt 'local[2]'

# The C unit tests under ThreadSanitizer (the engine's threads, the block store's lock).
# setarch -R: TSan needs the classic address-space layout some kernels randomise away.
tsan: $(VENV)/.deps
	@test -f build/c-tsan/build.ninja || $(VENV)/bin/meson setup build/c-tsan -Dpython=false \
		-Dwerror=true -Db_sanitize=thread -Dbuildtype=debug
	$(VENV)/bin/meson compile -C build/c-tsan
	@set -e; for t in build/c-tsan/test_*; do [ -f $$t ] && [ -x $$t ] || continue; \
		echo "== $$t (tsan)"; TSAN_OPTIONS=halt_on_error=1 setarch $$(uname -m) -R $$t; done

# libFuzzer builds of the fuzz targets (clang, with ASan and UBSan), each run for
# FUZZ_SECONDS on a working corpus in build/fuzz seeded from tests/fuzz/corpus.
FUZZ_CFLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -DEMBER_BUILDING -Iinclude -Isrc \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
# The optional codecs, built in when their headers are there (as meson builds libember).
FUZZ_CODECS := $(if $(wildcard /usr/include/bzlib.h),-DEMBER_HAVE_BZIP2 -lbz2) \
	$(if $(wildcard /usr/include/lzma.h),-DEMBER_HAVE_LZMA -llzma) \
	$(if $(wildcard /usr/include/zstd.h),-DEMBER_HAVE_ZSTD -lzstd)
fuzz:
	@command -v clang >/dev/null || (apt-get update && apt-get install -y clang)
	@mkdir -p build/fuzz
	@set -e; for f in $(FUZZ_TARGETS); do \
		clang $(FUZZ_CFLAGS) tests/fuzz/fuzz_$$f.c $(wildcard src/*.c) $(FUZZ_CODECS) -lz -lpthread -ldl -lm -o build/fuzz/fuzz_$$f; \
		mkdir -p build/fuzz/corpus-$$f; \
		echo "== fuzz_$$f for $(FUZZ_SECONDS) s"; \
		build/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -max_len=65536 \
			build/fuzz/corpus-$$f tests/fuzz/corpus/$$f > build/fuzz/fuzz_$$f.log 2>&1 \
			|| { tail -n 60 build/fuzz/fuzz_$$f.log; exit 1; }; \
		grep -E "^stat::|Done" build/fuzz/fuzz_$$f.log; \
	done

$(VENV)/.pyspark: $(VENV)/.deps
	$(PIP) install $(PYSPARK)
	touch $@

pytest: install
	$(PY) -m pytest -q tests $(PYTEST_ARGS)

# ruff (pyflakes, pycodestyle) over the Python code; mypy over python/ember, strict on the
# public modules (pyproject.toml lists them).
# The C files clang-format checks (.clang-format at the root); `make format` rewrites them.
C_SOURCES = $(shell find src include python/_core tests/c tests/fuzz examples -name '*.[ch]' | sort)

lint: $(VENV)/.deps
	clang-format --dry-run -Werror $(C_SOURCES)
	$(VENV)/bin/ruff check python tests bench examples
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy tests/typing/check_api.py

format:
	clang-format -i $(C_SOURCES)

test: lint ctest ctest-asan $(VENV)/.pyspark pytest

# The suite on the other supported Pythons (`make test` is 3.11's): each gets its own
# venv (.venv-3.X) and -Werror build (build/py-3.X); the tests marked slow or
# differential run on 3.11 only. .ci/find-python finds each interpreter, or installs
# it, or fails naming it.
OTHER_PYTHONS := 3.10 3.12 3.13
test-pythons:
	@set -e; for v in $(OTHER_PYTHONS); do \
		py=$$(.ci/find-python $$v); echo "== Python $$v: $$py"; \
		$(MAKE) --no-print-directory pytest PYTHON=$$py VENV=.venv-$$v PYBUILD=build/py-$$v \
			PYTEST_ARGS='-m "not slow and not differential"'; \
	done

# The Python tests against an extension built with ASan/UBSan (workers included);
# not the differential ones, whose JVM does not run under the ASan runtime.
ASAN_LIB = $(shell gcc -print-file-name=libasan.so)
asan: $(VENV)/.deps
	$(PIP) install --no-build-isolation -Cbuild-dir=build/py-asan -Csetup-args=-Db_sanitize=address,undefined \
		-Csetup-args=-Db_lundef=false -Csetup-args=-Dbuildtype=debug --upgrade --target build/asan-site .
	cd build && LD_PRELOAD=$(ASAN_LIB) ASAN_OPTIONS=detect_leaks=0 PYTHONPATH=$(CURDIR)/build/asan-site \
		../$(PY) -m pytest -q -p no:cacheprovider ../tests \
		--ignore=../tests/test_differential.py --ignore=../tests/test_differential_actions.py

# The benchmarks side by side with PySpark, Dask Bag and plain Python (bench/run.py;
# BENCH_ARGS="--big" adds the 4 GiB word count). PySpark needs a JVM (Java 17).
$(VENV)/.bench-deps: $(VENV)/.deps
	$(PIP) install $(PYSPARK) $(BENCH_DEPS)
	touch $@

bench: install $(VENV)/.bench-deps
	$(PY) bench/run.py $(BENCH_ARGS)

# Cluster mode alone: its mpirun tests (tests/test_cluster.py; tests/test_cluster_netns.py,
# 3 hosts in network namespaces, needs root), then its figures (bench/cluster.py --quick:
# the shuffle against MPI_Alltoallv, word count at 1, 2 and 3 ranks). `make test` runs
# the same tests; here a missing mpirun or MPI build fails instead of skipping.
cluster-test: install
	EMBER_REQUIRE_MPI=1 $(PY) -m pytest -q -rxs tests/test_cluster.py tests/test_cluster_netns.py tests/test_bench_cluster.py
	$(PY) bench/cluster.py --quick

$(VENV)/.docs-deps: $(VENV)/.deps
	$(PIP) install $(DOCS_DEPS)
	touch $@

# The documentation (mkdocs.yml): docs/design.md and the API reference that mkdocstrings
# generates from python/ember's docstrings and annotations, into build/docs; strict, so
# a reference to a missing name fails the build.
docs: $(VENV)/.docs-deps
	$(VENV)/bin/mkdocs build

clean:
	rm -rf build $(VENV)
