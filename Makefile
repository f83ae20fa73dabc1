# The two commands a new user needs: `make serve` and `make test`.
# Both create .venv when missing, install exactly the locked dependencies (requirements/dev.txt,
# with hashes) and (re)install the project with its C extension whenever its sources or the lock
# change. `make lock` refreshes the lock files from pyproject.toml and clients/pyproject.toml.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.pmscan-installed
# Warnings are errors in development builds only: a user's compiler may warn where ours does not.
export CFLAGS += -Werror

SOURCES := pyproject.toml $(wildcard app/pagemap/*.c app/pagemap/*.h) clients/pyproject.toml
# The lock files: dev.txt is everything a developer and CI install (server, tests, linters, SDK,
# build backend); runtime.txt is the server alone, for the container image and deployments.
LOCK    := requirements/dev.txt
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 $(UPGRADE)

.PHONY: serve test install tools ext openapi sdk rules wheel bench stress asan lint lock upgrade clean

serve: $(STAMP)
	$(VENV)/bin/pmscan-server

test: $(STAMP) tools
	$(PY) -m pytest $(PYTEST_ARGS)

install: $(STAMP)

# System tools of the tests, installed from the distribution when missing, as root with apt-get
# only (elsewhere the tests that need them are skipped), one "command:package" pair each:
# wrk, the load generator of tests/stress/test_load.py and bench/load_bench.py; prometheus
# (with promtool), the real Prometheus of tests/api/test_exporter_prometheus.py and the rule
# checks of tests/deploy/test_prometheus_rules.py; tmux, the terminal of
# tests/clients/cli/test_screen.py; curl, the C client of bench/scan_bench.py.
TOOLS := wrk:wrk prometheus:prometheus promtool:prometheus tmux:tmux curl:curl

tools:
	@missing=""; \
	for pair in $(TOOLS); do \
		command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "missing: $$missing(installing needs root and apt-get): the tests that need them will be skipped"; \
		exit 0; \
	fi; \
	echo "installing $$missing(apt-get)"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -qq -y --no-install-recommends $$missing >/dev/null || \
		{ apt-get update -qq && apt-get install -qq -y --no-install-recommends $$missing >/dev/null; }

$(PY):
	$(PYTHON) -m venv $(VENV)

# The locked dependencies, every one checked against its hash; then the project and the SDK as
# editable installs without dependencies or build isolation (the build backend is in the lock too).
# The extension is built in place (app/pagemap/_pagemap*.so), so the tests and the server import
# the same tree the developer edits.
$(STAMP): $(PY) $(SOURCES) $(LOCK)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e . -e ./clients
	touch $@

# Re-lock after a change of pyproject.toml's dependencies: the pins already in the lock stay where
# the ranges still allow them. `make upgrade` takes the newest versions the ranges allow instead.
# Both write hashes; commit the result.
lock: $(STAMP)
	$(UV_COMPILE) pyproject.toml clients/pyproject.toml requirements/tools.in --extra test --extra cli -o requirements/dev.txt
	$(UV_COMPILE) pyproject.toml -c requirements/dev.txt -o requirements/runtime.txt

upgrade:
	$(MAKE) lock UPGRADE=--upgrade

# Rebuild only the C extensions, in place (fast, for working on the C code).
ext: $(PY)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .

openapi: $(STAMP)
	$(PY) -m app.openapi > openapi.json

sdk: $(STAMP)
	$(PY) -m clients.regenerate

# The PrometheusRule of deploy/kubernetes/components/prometheus, from deploy/prometheus/pmscan.rules.yml.
rules:
	$(PYTHON) deploy/prometheus/prometheusrule.py > deploy/kubernetes/components/prometheus/prometheusrule.yaml

wheel: $(PY)
	$(PY) -m pip wheel --quiet --no-deps -w dist .

bench: $(STAMP)
	$(PY) bench/scan_bench.py
	$(PY) bench/backends_bench.py
	$(PY) bench/client_bench.py
	$(PY) bench/export_bench.py
	$(PY) bench/floor_bench.py

# The long proofs (docs/proof.md): full fuzzing, a 10,000-request soak, faults, load.
stress: $(STAMP) tools
	$(PY) bench/stress.py

# The C extensions' tests under AddressSanitizer and UBSan (gcc's libasan).
asan: $(STAMP)
	$(PY) -m tests.support.asan

# The hand-written client is linted with the rest; its generated part is excluded in pyproject.toml.
LINTED := app tests bench clients

# Redocly's linter, pinned, on the contract other ecosystems' tools read: its recommended rules with
# every warning an error (recommended-strict). Needs Node.js 20+ (npx fetches the CLI from npm).
REDOCLY := @redocly/cli@2.77.0

lint: $(STAMP)
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)
	$(PY) -m mypy
	@command -v npx >/dev/null || { echo "make lint: npx (Node.js 20+) is needed for $(REDOCLY)"; exit 1; }
	npx --yes $(REDOCLY) lint --extends recommended-strict --format stylish openapi.json

clean:
	rm -rf $(VENV) build dist *.egg-info app/pagemap/*.so
