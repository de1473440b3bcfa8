# Two commands on a fresh Debian/Ubuntu machine with Python 3.11: `make demo`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_DIR ?= demo-lab
export DJ_IGNORE_CONFIG_FILE ?= true

.PHONY: setup system-deps demo test unit integration lint format bench bench-smoke faults faults-smoke clean

setup: $(STAMP)

# System packages the pipeline needs: MariaDB server for the embedded database
# (skipped when DJ_HOST points at your own MySQL), Chromium for the report test, Slurm for the Slurm tests.
system-deps:
	@if [ -z "$$DJ_HOST" ] && ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing mariadb-server"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null; \
	  else echo "mariadbd not found: install mariadb-server, or set DJ_HOST/DJ_USER/DJ_PASS to your MySQL" >&2; exit 2; fi; \
	fi
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (headless test of the report page)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: the report page test will skip (install chromium as root to run it)" >&2; fi; \
	fi
	@if ! command -v slurmctld >/dev/null 2>&1 && [ ! -x /usr/sbin/slurmctld ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing slurm-wlm (the Slurm tests run a one-node cluster)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm >/dev/null; \
	  else echo "slurm-wlm not found: the Slurm tests will skip (install slurm-wlm as root to run them)" >&2; fi; \
	fi

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	@touch $(STAMP)

demo: setup
	$(BIN)/iblpipe db start
	$(BIN)/iblpipe demo run --out $(DEMO_DIR)

test: setup
	$(BIN)/python -m pytest tests -q

unit: setup
	$(BIN)/python -m pytest tests/unit -q

integration: setup
	$(BIN)/python -m pytest tests/integration -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

# Benchmark (not a test): BENCH_ARGS passes options, e.g. BENCH_ARGS="--lab /data/bench-lab --keep /data/bench-work"
bench: setup
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

bench-smoke: setup
	$(BIN)/python -m benchmarks --mice 3 --runs 1 --max-sessions 16 $(BENCH_ARGS)

# Fault suite (not a test; its --quick run is): FAULTS_ARGS passes options, e.g. FAULTS_ARGS="--work /data/faults"
faults: setup
	$(BIN)/python -m benchmarks.faults $(FAULTS_ARGS)

faults-smoke: setup
	$(BIN)/python -m benchmarks.faults --quick $(FAULTS_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
