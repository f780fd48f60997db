# Two commands matter: `make run` (try the chat) and `make test` (the whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
INSTANCES ?= 4
CLUSTER_PORT ?= 8080
# e.g. CLUSTER_ARGS="--state-dir .cluster --async-mode gevent"
CLUSTER_ARGS ?=
SCALE ?= 4
NODES ?= 1
CHAT_PORT ?= 8443
CHAT_HTTP_PORT ?= 8080
# REDIS_SENTINEL=1 make compose / make swarm: Redis watched by three sentinels.
SENTINEL_URL := redis+sentinel://sentinel-1:26379,sentinel-2:26379,sentinel-3:26379/chat
export FLASK_APP := app:create_app

.PHONY: run test lint unit integration e2e cluster system-deps clean bench bench-scaleout bench-capacity \
	compose compose-down swarm swarm-down conformance-server backup restore

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

## make test: everything, installing what is missing first, as two pytest processes
## side by side (scripts/run-tests.py): tests/integration in one, the other folders
## (tests/containers first) in the other.
test: system-deps lint
	$(BIN)/python scripts/run-tests.py

## make lint: ruff (lint and format check) and mypy, as configured in pyproject.toml
lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(VENV)/.dev-installed
	$(BIN)/python -m pytest tests/unit

## make cluster: the compose topology as local processes; a dead instance is
## restarted on its port (Ctrl-C stops it all); REDIS_CLUSTER=1: on a local
## 3-master Redis Cluster instead of one Redis; REDIS_SENTINEL=1: on Redis watched by
## Sentinel (a primary, a replica, three sentinels); STICKY=cookie: nginx's affinity by a
## cookie it sets instead of by client address (ip_hash)
cluster: system-deps $(VENV)/.dev-installed
	$(BIN)/python scripts/cluster.py run --instances $(INSTANCES) --port $(CLUSTER_PORT) \
		$(if $(REDIS_CLUSTER),--redis-cluster) $(if $(REDIS_SENTINEL),--redis-sentinel) \
		$(if $(STICKY),--sticky $(STICKY)) $(CLUSTER_ARGS)

## make conformance-server: the socket stack alone (no Flask app, database or Redis) under
## gunicorn's worker on HOST:PORT (127.0.0.1:3000 unless given), for protocol test suites
## (docs/protocol.md). ASYNC_MODE=eventlet|gevent, HOOKS=1 (the project's hooks) or 0
## (stock libraries), KIND=socketio (the maintainers' reference server) or engineio (echo).
conformance-server: $(VENV)/.runtime-installed
	$(BIN)/python scripts/conformance_server.py \
		--port $(if $(filter command line environment,$(origin PORT)),$(PORT),3000) \
		--async-mode $(or $(ASYNC_MODE),eventlet) --hooks $(or $(HOOKS),1) \
		--kind $(or $(KIND),socketio) $(if $(filter command line,$(origin HOST)),--host $(HOST))

clean:
	rm -rf $(VENV) instance .pytest_cache

## make bench: the short benchmark (5–7 minutes); `make bench FULL=1` the whole sweep;
## `make bench RUNS=3` three short runs and each figure's median and range (runs.md).
## Figures, table and plots land in bench/results/; docs/performance.md explains them.
bench: system-deps $(VENV)/.runtime-installed
	sh bench/install-deps.sh
	$(BIN)/pip install --quiet -r bench/requirements.txt
	cd bench/peers/node && { [ node_modules/.package-lock.json -nt package-lock.json ] || \
		npm ci --no-audit --no-fund --loglevel=error; }
	$(BIN)/python -m bench.run $(if $(FULL),--full) $(if $(RUNS),--runs $(RUNS))

## make bench-scaleout: CPU per message at 2 and 4 instances (FULL=1: 2, 4, 8), chat
## classic vs sharded queue beside the Node peer's two adapters; bench/results/scaleout-*.
bench-scaleout: system-deps $(VENV)/.runtime-installed
	$(BIN)/pip install --quiet -r bench/requirements.txt
	cd bench/peers/node && { [ node_modules/.package-lock.json -nt package-lock.json ] || \
		npm ci --no-audit --no-fund --loglevel=error; }
	$(BIN)/python -m bench.scaleout $(if $(FULL),--full)

## make bench-capacity: 100,000 idle sockets held, a 10,000-member room, chatter, and a
## reconnect storm, chat (eventlet, gevent) against the Node peer; bench/results/capacity/.
## Smaller: make bench-capacity SOCKETS=20000 TARGETS=eventlet,node (CAPACITY_ARGS: more
## options of bench/capacity.py). It checks the machine first (docs/capacity.md, "Capacity").
# A variable: inside $(or ...) the commas of a literal list would part its arguments.
CAPACITY_TARGETS := eventlet,gevent,node
bench-capacity: system-deps $(VENV)/.runtime-installed
	sh bench/install-deps.sh
	$(BIN)/pip install --quiet -r bench/requirements.txt
	cd bench/peers/node && { [ node_modules/.package-lock.json -nt package-lock.json ] || \
		npm ci --no-audit --no-fund --loglevel=error; }
	$(BIN)/python -m bench.capacity --sockets $(or $(SOCKETS),100000) \
		--targets $(or $(TARGETS),$(CAPACITY_TARGETS)) $(CAPACITY_ARGS)

## make compose: docker-compose.yml up for real on this machine, SCALE api replicas
## (default 4) behind nginx: HTTPS on CHAT_PORT (default 8443), CHAT_HTTP_PORT (default
## 8080) redirecting to it. Prepares what is missing
## first and says so (scripts/docker-env.sh: engine, compose plugin, .env with
## random secrets, local stand-ins for base images no registry serves).
## REDIS_SENTINEL=1: with the `sentinel` profile (a replica, three sentinels).
compose:
	sh scripts/docker-env.sh all
	CHAT_PORT=$(CHAT_PORT) CHAT_HTTP_PORT=$(CHAT_HTTP_PORT) \
		$(if $(REDIS_SENTINEL),COMPOSE_PROFILES=sentinel REDIS_URL=$(SENTINEL_URL)) \
		docker compose up --build --detach --wait --scale api=$(SCALE)
	@echo "chat: https://localhost:$(CHAT_PORT)/  ($(SCALE) api replicas and the migrator; docs/compose.md;"
	@echo "      a certificate nginx made itself unless CHAT_TLS_DIR names yours)"

## make compose-down: the stack down with its volumes (and dockerd, if `make compose` started it)
## (the services of the sentinel and monitoring profiles too)
compose-down:
	@if docker info >/dev/null 2>&1; then \
		SECRET_KEY="$${SECRET_KEY:-unused-by-down}" POSTGRES_PASSWORD="$${POSTGRES_PASSWORD:-unused-by-down}" \
		COMPOSE_PROFILES=sentinel,monitoring docker compose down --volumes --remove-orphans; fi
	sh scripts/docker-env.sh stop-engine

## make backup: the compose stack's database, pg_dump in custom format, into ./backups/.
## make restore FILE=backups/chat-....dump: the app stopped, FILE restored, the stack
## started again (into an empty database too: a new volume). docs/compose.md, "Backups".
backup:
	sh scripts/compose-backup.sh backup

restore:
	@[ -n "$(FILE)" ] || { echo "make restore FILE=backups/chat-....dump" >&2; exit 2; }
	SCALE=$(SCALE) sh scripts/compose-backup.sh restore "$(FILE)"

## make swarm: deploy/swarm/docker-stack.yml on a single-node Docker Swarm here
## (initialised if needed), SCALE api replicas, nginx HTTPS on CHAT_PORT (CHAT_HTTP_PORT
## redirecting); docs/swarm.md. NODES=3: on a swarm of three Docker-in-Docker nodes
## (scripts/swarm-nodes.sh), nginx on this machine's loopback.
## make swarm-down: the stack, its secrets and volumes removed; the swarm left if make swarm
## made it; the nodes of NODES=3 removed with everything on them.
swarm:
	SCALE=$(SCALE) CHAT_PORT=$(CHAT_PORT) CHAT_HTTP_PORT=$(CHAT_HTTP_PORT) NODES=$(NODES) \
		sh scripts/swarm.sh up

swarm-down:
	sh scripts/swarm.sh down
