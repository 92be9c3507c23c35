# Anymask: `make run` for a local instance, `make test` for the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VAR := var
# A throwaway key for lint and tests (settings refuse to load without a real one).
EPHEMERAL_KEY = $$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')
# torch is pinned through a constraints file: an unpinned install pulls a CUDA build.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: run test lint format check-env clean

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

clean:
	rm -rf $(VAR)/test .pytest_cache .mypy_cache .ruff_cache
