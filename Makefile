# The two set-up commands: `make run` and `make test`. Each creates .venv and installs what it
# needs on a machine that has only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint typecheck contracts pytest browser clean soak

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "taskrow needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# `make run PORT=8001` serves the API on another port (`taskrow dev --port`).
run: $(STAMP)
	$(BIN)/taskrow dev $(if $(PORT),--port $(PORT))

test: lint typecheck contracts pytest

# A fast subset for development: the same checks, then only the tests not marked slow (no
# Chromium, PgBouncer, Patroni, chaos, wheel builds or end-to-end runs). `make test` runs all.
check: lint typecheck contracts
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

# Line coverage of the four packages, subprocesses included (see [tool.coverage] in
# pyproject.toml), printed at the end; no threshold.
pytest: $(STAMP) browser ha-deps pgbouncer
	$(BIN)/pytest --cov --cov-report=term $(PYTEST_ARGS)

# The dashboard is tested in a real headless Chromium: Debian's package, installed when missing
# (as root, with apt-get); elsewhere install it yourself (e.g. `sudo apt-get install chromium`).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the dashboard tests ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "the dashboard tests need Chromium: install Debian's chromium package" >&2; exit 1; \
	  fi; }

# The deployment tests (tests/deploy) put a real PgBouncer in front of the test Postgres:
# Debian's package, installed when missing (as root, with apt-get); elsewhere install it yourself
# (without it those tests are skipped, and fail under CI=true).
.PHONY: pgbouncer
pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || test -x /usr/sbin/pgbouncer || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's pgbouncer for the deployment tests ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; \
	    systemctl disable --now pgbouncer >/dev/null 2>&1 || true; \
	  else \
	    echo "the deployment tests need PgBouncer: install Debian's pgbouncer package" >&2; \
	    [ "$$CI" != true ] || exit 1; \
	  fi; }

# The core and worker tests on every other PostgreSQL major obtainable as a package: 16 from the
# pgserver wheel (its binaries only), and each Debian postgresql-NN found in /usr/lib/postgresql
# (bookworm: 15). About 2 to 3 minutes per version on a shared 2-core machine; CI runs it.
PG_VERSIONS := .pg-versions
.PHONY: test-versions
test-versions: $(STAMP)
	test -x $(PG_VERSIONS)/pgserver/pgserver/pginstall/bin/postgres || \
	  $(BIN)/python -m pip install --quiet --no-deps --target $(PG_VERSIONS)/pgserver pgserver==0.1.4
	$(BIN)/python -m tests.versions $(PG_VERSIONS)/pgserver/pgserver/pginstall/bin \
	  $(wildcard /usr/lib/postgresql/*/bin) $(if $(PYTEST_ARGS),-- $(PYTEST_ARGS))

clean:
	rm -rf $(VENV) .taskrow .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*

# Mixed faults under load for SOAK_SECONDS (default 1800), then the chaos checker's table;
# fails if anything acknowledged was lost, stuck or overwritten. See docs/reliability.md.
soak: $(STAMP)
	$(BIN)/python -u -m tests.chaos.soak

# Failover on a real Patroni cluster (tests/chaos/test_failover.py, tests/chaos/failover.py):
# Debian's patroni and etcd-server, installed when missing (as root, with apt-get); elsewhere
# install them yourself (e.g. `sudo apt-get install patroni etcd-server`).
.PHONY: ha ha-deps
ha-deps:
	@{ command -v patroni && command -v etcd; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's patroni and etcd-server for the failover tests ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patroni etcd-server >/dev/null; \
	  else \
	    echo "the failover tests need Patroni and etcd: install Debian's patroni and etcd-server packages" >&2; exit 1; \
	  fi; }

# HA_FAILOVERS (default 3) failovers under load with synchronous, then asynchronous replication,
# and the comparison table of docs/reliability.md; fails if synchronous mode lost anything.
ha: $(STAMP) ha-deps
	$(BIN)/python -u -m tests.chaos.failover
