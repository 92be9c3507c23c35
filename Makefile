# Anymask: `make run` for a local instance, `make test` for the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VAR := var
# A throwaway key for lint and tests (settings refuse to load without a real one).
EPHEMERAL_KEY = $$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')
# torch is pinned through a constraints file: an unpinned install pulls a CUDA build.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: run test topology lint format check-env clean bench-ws bench-warm bench-browser fetch-model model-info embed-missing media-to-s3

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip

$(VENV)/.installed-run: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev]'
	touch $@ $(VENV)/.installed-run

$(VAR)/secret_key:
	mkdir -p $(VAR)
	umask 077 && $(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))' > $@

# Embedded mode: SQLite, local media, filesystem broker, no Redis or PostgreSQL.
run: $(VENV)/.installed-run $(VAR)/secret_key
	SECRET_KEY="$$(cat $(VAR)/secret_key)" $(BIN)/python manage.py migrate --noinput -v 0
	SECRET_KEY="$$(cat $(VAR)/secret_key)" $(BIN)/python manage.py bootstrap_demo
	SECRET_KEY="$$(cat $(VAR)/secret_key)" exec $(BIN)/python manage.py serve

# Model commands for the `make run` instance (its var dir and key), e.g.
# `make fetch-model MODEL=sam-vit-base`; MODEL defaults to ANYMASK_MODEL or sam-vit-base.
# HF_HUB_OFFLINE, HF_HOME and HF_ENDPOINT pass through as huggingface_hub reads them.
MODEL ?= $(or $(ANYMASK_MODEL),sam-vit-base)
fetch-model: $(VENV)/.installed-run $(VAR)/secret_key
	SECRET_KEY="$$(cat $(VAR)/secret_key)" $(BIN)/python manage.py fetch_model '$(MODEL)'

model-info: $(VENV)/.installed-run $(VAR)/secret_key
	SECRET_KEY="$$(cat $(VAR)/secret_key)" $(BIN)/python manage.py model_info '$(MODEL)'

# Re-queue the images whose embedding is missing or failed (after fixing the model).
embed-missing: $(VENV)/.installed-run $(VAR)/secret_key
	SECRET_KEY="$$(cat $(VAR)/secret_key)" $(BIN)/python manage.py migrate --noinput -v 0
	SECRET_KEY="$$(cat $(VAR)/secret_key)" $(BIN)/python manage.py embed_missing

# Copy the `make run` instance's media directory into the bucket named by
# ANYMASK_S3_BUCKET (and the other ANYMASK_S3_* variables, passed through); a rerun
# copies only new or changed files. README "Object storage".
media-to-s3: $(VENV)/.installed-run $(VAR)/secret_key
	SECRET_KEY="$$(cat $(VAR)/secret_key)" $(BIN)/python manage.py media_to_s3 -v 2

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SECRET_KEY="$(EPHEMERAL_KEY)" $(BIN)/mypy labeling inference tests bench

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Tests use their own var dir so they never touch a running `make run` instance.
test: lint
	SECRET_KEY="$(EPHEMERAL_KEY)" \
	ANYMASK_VAR_DIR="$${ANYMASK_VAR_DIR:-$(VAR)/test}" \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The multi-node topology under faults (bench/topology/): its own Redis (AOF),
# SeaweedFS, a database of its own on the PostgreSQL that DATABASE_URL names, two web
# processes and two workers; one JSON line of lost/duplicated counts, all 0 or it
# fails. Every process's log is kept in $(VAR)/topology-logs.
topology: $(VENV)/.installed-dev
	rm -rf $(VAR)/topology-logs
	SECRET_KEY="$(EPHEMERAL_KEY)" $(BIN)/python -m bench.topology --logs $(VAR)/topology-logs

# Websocket click-to-mask latency (bench/ws_clicks.py) against a real server + worker
# on full-size SAM ViT-B with random weights, in a throwaway var dir; stops them after.
BENCH_WS_DIR := $(VAR)/bench-ws
BENCH_WS_PORT ?= 8765
BENCH_WS_ARGS ?= --clients 10 --rate 2 --seconds 30
bench-ws: $(VENV)/.installed-run
	rm -rf $(BENCH_WS_DIR) && mkdir -p $(BENCH_WS_DIR)
	export ANYMASK_VAR_DIR="$(BENCH_WS_DIR)" SECRET_KEY="$(EPHEMERAL_KEY)" \
		BENCH_PASSWORD="$(EPHEMERAL_KEY)" && \
	$(BIN)/python manage.py migrate --noinput -v 0 && \
	image=$$($(BIN)/python bench/ws_clicks.py prepare \
		--model-dir $(VAR)/bench-models/sam-vit-base-coherent | tail -n 1) && \
	{ $(BIN)/python manage.py serve --port $(BENCH_WS_PORT) > $(BENCH_WS_DIR)/server.log 2>&1 & \
	  server=$$!; trap 'kill -TERM '$$server'; wait '$$server'' EXIT; } && \
	$(BIN)/python bench/ws_clicks.py --url http://127.0.0.1:$(BENCH_WS_PORT) \
		--image $$image $(BENCH_WS_ARGS)

# Warm start (bench/warm_start.py): a real `manage.py serve` on full-size SAM ViT-B
# (random weights) with one embedded image; process start to model ready, then the
# first and a warm click, as one JSON line.
BENCH_WARM_DIR := $(VAR)/bench-warm
BENCH_WARM_PORT ?= 8766
BENCH_WARM_ARGS ?=
bench-warm: $(VENV)/.installed-run
	rm -rf $(BENCH_WARM_DIR) && mkdir -p $(BENCH_WARM_DIR)
	export ANYMASK_VAR_DIR="$(BENCH_WARM_DIR)" SECRET_KEY="$(EPHEMERAL_KEY)" \
		BENCH_PASSWORD="$(EPHEMERAL_KEY)" && \
	$(BIN)/python manage.py migrate --noinput -v 0 && \
	$(BIN)/python bench/warm_start.py --model-dir $(VAR)/bench-models/sam-vit-base-coherent \
		--port $(BENCH_WARM_PORT) $(BENCH_WARM_ARGS)

# Click to painted mask in headless Chromium (bench/browser_clicks.py): a real `serve`
# (web + worker) on full-size SAM ViT-B (random weights), one 1024x768 image; the
# page's own timing, and the page before the fast paint path as the baseline.
BENCH_BROWSER_DIR := $(VAR)/bench-browser
BENCH_BROWSER_PORT ?= 8767
BENCH_BROWSER_ARGS ?=
bench-browser: $(VENV)/.installed-dev
	rm -rf $(BENCH_BROWSER_DIR) && mkdir -p $(BENCH_BROWSER_DIR)
	export ANYMASK_VAR_DIR="$(BENCH_BROWSER_DIR)" SECRET_KEY="$(EPHEMERAL_KEY)" \
		BENCH_PASSWORD="$(EPHEMERAL_KEY)" && \
	$(BIN)/python manage.py migrate --noinput -v 0 && \
	$(BIN)/python bench/browser_clicks.py --model-dir $(VAR)/bench-models/sam-vit-base-coherent \
		--port $(BENCH_BROWSER_PORT) $(BENCH_BROWSER_ARGS)

clean:
	rm -rf $(VAR)/test .pytest_cache .mypy_cache .ruff_cache
