# The two commands a new user needs: `make serve` and `make test`.
# Both create .venv when missing and (re)install the project with its C extension
# whenever its sources or dependencies change.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.pmscan-installed
# Warnings are errors in development builds only: a user's compiler may warn where ours does not.
export CFLAGS += -Werror

SOURCES := pyproject.toml $(wildcard app/pagemap/*.c app/pagemap/*.h) $(wildcard clients/pyproject.toml)

.PHONY: serve test install tools ext openapi sdk wheel bench stress asan lint clean

serve: $(STAMP)
	$(VENV)/bin/pmscan-server

test: $(STAMP) tools
	$(PY) -m pytest $(PYTEST_ARGS)

install: $(STAMP)

# The programs the load test and the benchmarks drive, installed from the distribution when
# missing, as root with apt-get only (elsewhere: the load test is skipped, curl's bench rows left
# out). wrk: tests/stress/test_load.py and bench/load_bench.py; curl: bench/scan_bench.py.
TOOLS := wrk curl

tools:
	@missing=""; for tool in $(TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "missing:$$missing (installing needs root and apt-get): the tests that need them are skipped"; \
		exit 0; \
	fi; \
	echo "installing$$missing (apt-get)"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -qq -y --no-install-recommends $$missing >/dev/null || \
		{ apt-get update -qq && apt-get install -qq -y --no-install-recommends $$missing >/dev/null; }

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools>=77" wheel

# Editable install: the extension is built in place (app/pagemap/_pagemap*.so),
# so the tests and the server import the same tree the developer edits.
$(STAMP): $(PY) $(SOURCES)
	$(PY) -m pip install --quiet -e '.[test]'
	@if [ -f clients/pyproject.toml ]; then $(PY) -m pip install --quiet -e ./clients; fi
	touch $@

# Rebuild only the C extensions, in place (fast, for working on the C code).
ext: $(PY)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .

openapi: $(STAMP)
	$(PY) -m app.openapi > openapi.json

sdk: $(STAMP)
	$(PY) -m clients.regenerate

wheel: $(PY)
	$(PY) -m pip wheel --quiet --no-deps -w dist .

bench: $(STAMP)
	$(PY) bench/scan_bench.py
	$(PY) bench/backends_bench.py
	$(PY) bench/client_bench.py

# The long proofs (docs/proof.md): full fuzzing, a 10,000-request soak, faults, load.
stress: $(STAMP) tools
	$(PY) bench/stress.py

# The C extensions' tests under AddressSanitizer and UBSan (gcc's libasan).
asan: $(STAMP)
	$(PY) -m tests.support.asan

# Redocly's linter, pinned, on the contract other ecosystems' tools read: its recommended rules with
# every warning an error (recommended-strict). Needs Node.js 20+ (npx fetches the CLI from npm).
REDOCLY := @redocly/cli@2.77.0

lint: $(STAMP)
	$(PY) -m ruff check app tests bench
	$(PY) -m ruff format --check app tests bench
	$(PY) -m mypy
	@command -v npx >/dev/null || { echo "make lint: npx (Node.js 20+) is needed for $(REDOCLY)"; exit 1; }
	npx --yes $(REDOCLY) lint --extends recommended-strict --format stylish openapi.json

clean:
	rm -rf $(VENV) build dist *.egg-info app/pagemap/*.so
