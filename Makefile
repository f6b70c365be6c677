# pyfaas: `make run` starts the platform, `make test` runs every test.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint typecheck unit bench soak system-deps clean docs

$(STAMP): pyproject.toml
	@$(PY) -c 'import ensurepip, venv' 2>/dev/null || scripts/python-venv
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# compat mode: a plain path entry instead of an import hook, which would add
	# ~15 ms to every Python start (CLI calls, function processes).
	$(BIN)/pip install -q -e '.[dev]' --config-settings editable_mode=compat \
	  || $(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(STAMP)

system-deps:
	@scripts/system-deps

# The platform alone needs fewer packages than its tests (no browser, no promtool).
run: install
	@scripts/system-deps run
	$(BIN)/pyfaas serve

lint: install
	$(BIN)/ruff check pyfaas tests bench
	$(BIN)/ruff format --check pyfaas tests bench

typecheck: install
	$(BIN)/mypy

# The fast tier: no process, no nats-server, no waits of seconds (docs/architecture.md,
# Conventions); its slowest tests are listed, so one that drifts out of the tier shows.
unit: install
	$(BIN)/pytest -m "not integration and not e2e" --durations=10 --durations-min=1.0

# The suite in TEST_WORKERS processes, a test file each at a time (pytest-xdist):
# most of its time is waiting on processes, so two share two cores well.
TEST_WORKERS ?= 2
test: install system-deps lint typecheck
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

bench: install system-deps
	$(BIN)/python -m bench

# A mixed load on pyfaas serve while its gateway and queue-worker are killed
# (`make soak MINUTES=3`); fails if a call answered 202 never ran.
MINUTES ?= 10
soak: install system-deps
	$(BIN)/python -m bench.soak --minutes $(MINUTES)

# The diagrams of docs/ from their text sources (Graphviz: apt-get install graphviz).
DIAGRAMS := $(wildcard docs/diagrams/*.dot)
docs: system-deps
	@command -v dot >/dev/null || { echo "make docs needs Graphviz's dot: apt-get install graphviz"; exit 1; }
	for src in $(DIAGRAMS); do \
	  dot -Tsvg "$$src" -o "$${src%.dot}.svg" && dot -Tpng -Gdpi=110 "$$src" -o "$${src%.dot}.png" || exit 1; \
	done

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
