# The two commands a new user needs: `make serve` and `make test`. Each builds its own environment:
#
#   .venv      what serves: the server and the `pmscan` command (SDK and CLI), from the lock
#              requirements/serve.txt; nothing of development (no pytest, ruff, mypy, ...).
#   .venv-dev  what develops: all of that plus the tests, linters, benches and build tools, from
#              requirements/dev.txt; `make test`, `make lint`, `make bench` and the rest use it.
#
# Both are created when missing, install exactly the locked dependencies (with hashes) and
# reinstall the project whenever its sources or the lock change. `make lock` refreshes the lock
# files from pyproject.toml and clients/pyproject.toml.

PYTHON   ?= python3
# Make variables, so that a test can build either environment elsewhere (make serve-venv VENV=DIR).
VENV     ?= .venv
DEV_VENV ?= .venv-dev
PY       := $(VENV)/bin/python
DEV_PY   := $(DEV_VENV)/bin/python
STAMP    := $(VENV)/.pmscan-installed
DEV_STAMP := $(DEV_VENV)/.pmscan-installed
# Warnings are errors in development builds only (.venv-dev): a user's compiler may warn where ours
# does not, and `make serve` must still build.
DEV_CFLAGS := $(CFLAGS) -Werror

SOURCES := pyproject.toml $(wildcard app/pagemap/*.c app/pagemap/*.h) clients/pyproject.toml
# .venv holds copies (not editable installs), so it is rebuilt when any installed source changes.
SERVE_SOURCES := pyproject.toml clients/pyproject.toml \
	$(shell find app clients/pmscan_client -type f \( -name '*.py' -o -name '*.pyi' -o -name '*.c' \
		-o -name '*.h' -o -name py.typed \) 2>/dev/null)
# The lock files: dev.txt is everything a developer and CI install (server, tests, linters, SDK,
# build backend); serve.txt the server, the SDK and its CLI with the build backend, for .venv;
# runtime.txt is the server alone, for the container image and deployments. All three pin the
# same versions.
DEV_LOCK   := requirements/dev.txt
SERVE_LOCK := requirements/serve.txt
UV_COMPILE = $(DEV_VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 $(UPGRADE)

.PHONY: serve test install serve-venv dev-venv tools ext openapi sdk rules docs wheel bench stress \
	asan lint lock upgrade clean
.PHONY: image-tools image test-image

serve: $(STAMP)
	$(VENV)/bin/pmscan-server

test: $(DEV_STAMP) tools
	$(DEV_PY) -m pytest $(PYTEST_ARGS)

install: $(STAMP) $(DEV_STAMP)

serve-venv: $(STAMP)

dev-venv: $(DEV_STAMP)

# System tools of the tests, installed from the distribution when missing, as root with apt-get
# only (elsewhere the tests that need them are skipped), one "command:package" pair each:
# wrk, the load generator of tests/stress/test_load.py and bench/load_bench.py; prometheus
# (with promtool), the real Prometheus of tests/export/test_exporter_prometheus.py and the rule
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

# ---- the container image (deploy/container; deploy/README.md, "Container image") ------------------
# podman, with runc to run containers (crun refuses hosts with hybrid cgroup hierarchies) and
# mmdebstrap for the base that `make image` makes when python:3.11-slim cannot be pulled. Installed
# as `tools` installs its own; podman's configuration is deploy/container/podman-ci.conf.
IMAGE_TOOLS := podman:podman runc:runc mmdebstrap:mmdebstrap
IMAGE ?= localhost/pmscan:dev

image-tools:
	@$(MAKE) --no-print-directory tools TOOLS="$(IMAGE_TOOLS)"

# IMAGE from deploy/container/Dockerfile (build-image.sh: which base, and why).
image: image-tools
	sh deploy/container/build-image.sh $(IMAGE)

# The image run as the DaemonSet runs it, tested end to end (tests/image). Skipped, with the reason
# printed, only where podman cannot run a container at all; any other failure fails.
test-image: $(DEV_STAMP) tools image-tools
	@reason=$$($(DEV_PY) -m tests.support.podman 2>&1) || { \
		echo "make test-image: SKIPPED, podman cannot run a container here: $$reason"; exit 0; }; \
	$(MAKE) --no-print-directory image && \
	PMSCAN_IMAGE=$(IMAGE) $(DEV_PY) -m pytest tests/image $(PYTEST_ARGS)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEV_PY):
	$(PYTHON) -m venv $(DEV_VENV)

# The serving environment: the locked dependencies, every one checked against its hash; then the
# server and the SDK built and installed as a user's install is (copies, no build isolation: the
# build backend is in the lock), without -Werror. From a clean slate: setuptools copies a package
# into build/lib and leaves there what the tree no longer has (a module moved away would be
# installed again).
$(STAMP): $(PY) $(SERVE_SOURCES) $(SERVE_LOCK)
	$(PY) -m pip install --quiet --require-hashes -r $(SERVE_LOCK)
	rm -rf build clients/build
	$(PY) -m pip install --quiet --no-deps --no-build-isolation --force-reinstall . ./clients
	touch $@

# The development environment: the same, from the development lock, with the project and the SDK
# as editable installs. The extension is built in place (app/pagemap/_pagemap*.so), with warnings
# as errors, so the tests import the same tree the developer edits.
$(DEV_STAMP): $(DEV_PY) $(SOURCES) $(DEV_LOCK)
	$(DEV_PY) -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	CFLAGS="$(DEV_CFLAGS)" $(DEV_PY) -m pip install --quiet --no-deps --no-build-isolation -e . -e ./clients
	touch $@

# Re-lock after a change of pyproject.toml's dependencies: the pins already in the lock stay where
# the ranges still allow them. `make upgrade` takes the newest versions the ranges allow instead.
# All three write hashes; commit the result.
lock: $(DEV_STAMP)
	$(UV_COMPILE) pyproject.toml clients/pyproject.toml requirements/build.in requirements/tools.in \
		--extra test --extra cli -o $(DEV_LOCK)
	$(UV_COMPILE) pyproject.toml clients/pyproject.toml requirements/build.in --extra cli \
		-c $(DEV_LOCK) -o $(SERVE_LOCK)
	$(UV_COMPILE) pyproject.toml -c $(DEV_LOCK) -o requirements/runtime.txt

upgrade:
	$(MAKE) lock UPGRADE=--upgrade

# Rebuild only the C extensions, in place (fast, for working on the C code).
ext: $(DEV_PY)
	CFLAGS="$(DEV_CFLAGS)" $(DEV_PY) -m pip install --quiet --no-deps --no-build-isolation -e .

# The document the app serves, built without a server.
openapi: $(DEV_STAMP)
	$(DEV_VENV)/bin/pmscan-server openapi > openapi.json

sdk: $(DEV_STAMP)
	$(DEV_PY) -m clients.regenerate

# docs/configuration.md, from the Settings class (a test fails when the two differ).
docs: $(DEV_STAMP)
	$(DEV_PY) -m app.settings_reference > docs/configuration.md

# The PrometheusRule of deploy/kubernetes/components/prometheus, from deploy/prometheus/pmscan.rules.yml.
rules:
	$(PYTHON) deploy/prometheus/prometheusrule.py > deploy/kubernetes/components/prometheus/prometheusrule.yaml

wheel: $(PY)
	$(PY) -m pip wheel --quiet --no-deps -w dist .

bench: $(DEV_STAMP)
	$(DEV_PY) bench/scan_bench.py
	$(DEV_PY) bench/backends_bench.py
	$(DEV_PY) bench/client_bench.py
	$(DEV_PY) bench/export_bench.py
	$(DEV_PY) bench/floor_bench.py

# The long proofs (docs/proof.md): full fuzzing, a 10,000-request soak, faults, load.
stress: $(DEV_STAMP) tools
	$(DEV_PY) bench/stress.py

# The C extensions' tests under AddressSanitizer and UBSan (gcc's libasan).
asan: $(DEV_STAMP)
	$(DEV_PY) -m tests.support.asan

# The hand-written client is linted with the rest; its generated part is excluded in pyproject.toml.
LINTED := app tests bench clients

# Redocly's linter, pinned, on the contract other ecosystems' tools read: its recommended rules with
# every warning an error (recommended-strict). Needs Node.js 20+ (npx fetches the CLI from npm).
REDOCLY := @redocly/cli@2.77.0

# The layers of app/ and who may import what: the contracts in pyproject.toml ([tool.importlinter]).
lint: $(DEV_STAMP)
	$(DEV_PY) -m ruff check $(LINTED)
	$(DEV_PY) -m ruff format --check $(LINTED)
	$(DEV_PY) -m mypy
	$(DEV_VENV)/bin/lint-imports
	@command -v npx >/dev/null || { echo "make lint: npx (Node.js 20+) is needed for $(REDOCLY)"; exit 1; }
	npx --yes $(REDOCLY) lint --extends recommended-strict --format stylish openapi.json

clean:
	rm -rf $(VENV) $(DEV_VENV) build dist *.egg-info clients/*.egg-info app/pagemap/*.so
