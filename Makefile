# OTAS: `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
JOBS ?= 2
STAMP := build/.stamps
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: all deps build c-test asan asan-python tsan fuzz-smoke fuzz pytest test demo bench \
        clean wheel install-test

all: build

$(STAMP)/apt: scripts/apt-deps.sh
	@mkdir -p $(STAMP)
	./scripts/apt-deps.sh
	@touch $@

$(STAMP)/venv: requirements-dev.txt $(STAMP)/apt
	@mkdir -p $(STAMP)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	@touch $@

deps: $(STAMP)/apt $(STAMP)/venv

# pip install . builds the engine, the binding and otas-collector, and puts
# the otas-collector command on the venv's PATH.
build: deps
	$(PIP) install -q --no-build-isolation --no-deps .

build/c/CMakeCache.txt: | deps
	cmake -S . -B build/c -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

c-test: deps build/c/CMakeCache.txt
	cmake --build build/c -j$(JOBS)
	ctest --test-dir build/c --output-on-failure -j$(JOBS)

asan: deps
	cmake -S . -B build/asan -G Ninja -DCMAKE_C_COMPILER=clang -DOTAS_SANITIZE=address,undefined
	cmake --build build/asan -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build/asan --output-on-failure -j$(JOBS)

# The binding's C under ASan+UBSan: the engine and python/otas/_engine.c
# built with the sanitizers (by flags, not OTAS_SANITIZE, so the limits are
# the shipped ones), laid over a copy of the package in $(ASAN_PY)/site,
# first on PYTHONPATH (the tests hand it on to the servers they start), and
# the binding's, capture and stop tests run with the sanitizer runtime
# preloaded (CPython is not built with it).  Every process writes its
# reports to $(ASAN_PY)/reports: any report fails the target, also one from
# a server process whose test would not notice.  Leak detection is off:
# CPython keeps objects until exit by design.
ASAN_PY := build/asan-python
# clang: its ASan runtime holds UBSan's too, so one preloaded library and
# one log_path cover both.
ASAN_CC ?= clang
ASAN_RT = $(shell $(ASAN_CC) -print-file-name=libclang_rt.asan-$(shell uname -m).so)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_PY_TESTS ?= tests/python/test_exchange.py tests/python/test_capture_django.py \
  tests/python/test_declared_once.py tests/python/test_django_capture.py \
  tests/python/test_adapters_parity.py tests/python/test_redaction.py \
  tests/python/test_wsgi_asgi.py tests/python/test_server_stop.py
# gunicorn's UvicornWorker under SIGINT is an expected failure that waits
# out gunicorn's graceful timeout and runs none of our code.
ASAN_PY_K ?= not uvicornworker-INT
ASAN_PY_ENV = LD_PRELOAD=$(ASAN_RT) \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$(CURDIR)/$(ASAN_PY)/reports/asan \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  PYTHONPATH=$(CURDIR)/$(ASAN_PY)/site OTAS_DASHBOARD_EVENT_SOURCE=sdk

asan-python: build
	cmake -S . -B $(ASAN_PY) -G Ninja -DCMAKE_C_COMPILER=$(ASAN_CC) \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOTAS_BUILD_PYTHON=ON -DOTAS_BUILD_TESTS=OFF \
	  -DOTAS_BUILD_COLLECTOR=OFF -DPython_EXECUTABLE=$(CURDIR)/$(PY) \
	  "-DCMAKE_C_FLAGS=$(SAN_FLAGS)" "-DCMAKE_MODULE_LINKER_FLAGS=$(SAN_FLAGS)"
	cmake --build $(ASAN_PY) -j$(JOBS) --target _engine
	rm -rf $(ASAN_PY)/site $(ASAN_PY)/reports
	mkdir -p $(ASAN_PY)/site $(ASAN_PY)/reports
	cp -R python/otas $(ASAN_PY)/site/
	rm -f $(ASAN_PY)/site/otas/_engine.c
	cp $(ASAN_PY)/_engine*.so $(ASAN_PY)/site/otas/
	$(ASAN_PY_ENV) $(PY) -c 'import sys, otas._native as n; \
	  f = getattr(n.engine, "__file__", "") or ""; \
	  sys.exit(0 if f.startswith("$(CURDIR)/$(ASAN_PY)/site/") else \
	           "asan-python: otas._engine is not the sanitizer build: %s %s" % (f, n.NATIVE_ERROR))'
	$(ASAN_PY_ENV) $(PY) -m pytest -q -p no:cacheprovider $(ASAN_PY_TESTS) -k "$(ASAN_PY_K)"; \
	  rc=$$?; \
	  if ls $(ASAN_PY)/reports/* >/dev/null 2>&1; then \
	    cat $(ASAN_PY)/reports/*; echo "asan-python: sanitizer reports above"; exit 1; fi; \
	  exit $$rc

tsan: deps
	cmake -S . -B build/tsan -G Ninja -DCMAKE_C_COMPILER=clang -DOTAS_SANITIZE=thread -DOTAS_BUILD_COLLECTOR=ON
	cmake --build build/tsan -j$(JOBS)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --test-dir build/tsan --output-on-failure -j$(JOBS)

FUZZ_SECONDS ?= 15
build/fuzz/CMakeCache.txt: | deps
	cmake -S . -B build/fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DOTAS_FUZZ=ON \
	  -DOTAS_SANITIZE=address,undefined -DOTAS_BUILD_TESTS=OFF

fuzz-smoke: build/fuzz/CMakeCache.txt
	cmake --build build/fuzz -j$(JOBS)
	./scripts/run-fuzz.sh build/fuzz $(FUZZ_SECONDS)

fuzz:
	$(MAKE) fuzz-smoke FUZZ_SECONDS=300

pytest: build
	OTAS_DASHBOARD_EVENT_SOURCE=sdk $(PY) -m pytest -q tests/python tests/collector tests/dashboard

test: build c-test asan asan-python tsan fuzz-smoke pytest install-test

# make wheel: the sdist, then the binary wheel built FROM that sdist (so the
# sdist is proved to build), repaired by auditwheel (every library the
# engine, the binding and otas-collector link is vendored into otas.libs/)
# into dist/.  Rebuilt only when a packaged source changes.
WHEEL_SOURCES := $(shell git ls-files -- CMakeLists.txt pyproject.toml README.md \
                   LICENSE Makefile scripts/wheel_launcher.py engine include collector python 2>/dev/null)
WHEEL_STAMP := dist/.wheel-stamp

wheel: $(WHEEL_STAMP)

$(WHEEL_STAMP): $(WHEEL_SOURCES) | deps
	rm -rf dist build/wheel-raw
	$(PY) -m build --no-isolation --sdist --outdir dist .
	$(PIP) wheel -q --no-build-isolation --no-deps -w build/wheel-raw dist/otas-*.tar.gz
	auditwheel repair -w dist build/wheel-raw/otas-*.whl
	$(PY) scripts/wheel_launcher.py dist/otas-*.whl
	auditwheel show dist/otas-*.whl
	@ls -l dist/otas-*
	@touch $@

# The wheel installed as a user would: bare Debian 12 and 13 roots
# (mmdebstrap, cached under build/), no compiler, Django from a wheelhouse.
install-test: wheel
	$(PY) tests/install/run_install_test.py

demo: build
	$(PY) demo/run_demo.py

bench: build build/c/CMakeCache.txt
	cmake --build build/c -j$(JOBS) --target bench_collector_ingest
	$(PY) bench/run.py $(if $(BENCH_BEFORE),--before $(BENCH_BEFORE)) $(BENCH_ARGS)

clean:
	rm -rf build dist *.egg-info
