# Two commands matter: `make run` (try the chat) and `make test` (the whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
INSTANCES ?= 4
CLUSTER_PORT ?= 8080
# e.g. CLUSTER_ARGS="--state-dir .cluster --async-mode gevent"
CLUSTER_ARGS ?=
export FLASK_APP := app:create_app

.PHONY: run test unit integration e2e cluster system-deps clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

## make run: the embedded chat (SQLite in instance/, no Redis, one process) on 127.0.0.1:$(PORT)
run: $(VENV)/.runtime-installed
	mkdir -p instance
	$(BIN)/flask db upgrade
	$(BIN)/flask seed
	@echo "chat: http://127.0.0.1:$(PORT)/  (API docs: http://127.0.0.1:$(PORT)/api/docs; log in as alice / password123)"
	HOST=127.0.0.1 PORT=$(PORT) PATH="$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/gunicorn -c python:app.gunicorn_conf wsgi:app

## make system-deps: PostgreSQL, Redis, nginx and Chromium from Debian (as root, when missing)
system-deps:
	sh scripts/install-system-deps.sh

## make test: everything, installing what is missing first
test: system-deps $(VENV)/.dev-installed
	$(BIN)/python -m pytest

unit: $(VENV)/.dev-installed
	$(BIN)/python -m pytest tests/unit

## make cluster: the compose topology as local processes; a dead instance is
## restarted on its port (Ctrl-C stops it all)
cluster: system-deps $(VENV)/.dev-installed
	$(BIN)/python scripts/cluster.py run --instances $(INSTANCES) --port $(CLUSTER_PORT) $(CLUSTER_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache

## make bench: the short benchmark (under 5 minutes); `make bench FULL=1` the whole sweep.
## Figures, table and plots land in bench/results/; docs/performance.md explains them.
bench: system-deps $(VENV)/.runtime-installed
	sh bench/install-deps.sh
	$(BIN)/pip install --quiet -r bench/requirements.txt
	cd bench/peers/node && { [ node_modules/.package-lock.json -nt package-lock.json ] || \
		npm ci --no-audit --no-fund --loglevel=error; }
	$(BIN)/python -m bench.run $(if $(FULL),--full)
