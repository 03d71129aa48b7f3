# Map Stock — the two commands: `make run` (whole stack locally) and `make test` (everything CI runs).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deps-installed
PORT   ?= 8000
STAGE  ?=

.PHONY: run test lint typecheck unit clean distclean help deploy destroy fuzz webapp chromium

# The web application (webapp/): npm ci from the lock file, then webapp/build.mjs writes the
# content-hashed assets and their manifest into chalicelib/site/ (packaged by chalice deploy).
WEBAPP_BUILT := chalicelib/site/manifest.json
WEBAPP_DEPS  := webapp/node_modules/.package-lock.json
WEBAPP_SRC   := $(shell find webapp/src -type f 2>/dev/null)
CHROMIUM     ?= /usr/bin/chromium

help:
	@echo "make run    start PostgreSQL, local S3/SQS, the API on http://127.0.0.1:$(PORT) and the event pump"
	@echo "make test   lint, type-check and run the whole test suite (what CI runs)"
	@echo "make clean  wipe local data (.local/)"
	@echo "make fuzz   schemathesis + the lifecycle state machine with 1000 examples"
	@echo "make deploy STAGE=dev|prod   resources stack, migrations, chalice deploy, post-deploy fixes"
	@echo "make destroy STAGE=dev|prod  undo make deploy (prod needs CONFIRM=prod)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s); set PYTHON=..." % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

# uv installs the stack in seconds; it is itself installed into the project's venv only.
# The processor's libraries are then reinstalled from the layer's lock, so the tests run the
# very wheels Lambda gets (manylinux2014 builds, where uv alone picks this machine's newer ones).
# Then the client, editable: .venv/bin/mapstock runs the working tree's mapstock_client/, and the
# source of the layer's libexpat is fetched (hash-checked) into .venv/layer-sources/.
$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt requirements-processing.txt requirements-processing.lock deploy/libexpat.lock pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes --reinstall -r requirements-processing.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e .
	$(BIN)/python -m deploy.expat
	@touch $(STAMP)

$(WEBAPP_DEPS): webapp/package.json webapp/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 18+ and npm are needed to build the web application (Debian: apt-get install nodejs npm)"; exit 1; }
	cd webapp && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEBAPP_BUILT): $(WEBAPP_DEPS) webapp/build.mjs $(WEBAPP_SRC)
	node webapp/build.mjs

webapp: $(WEBAPP_BUILT)

# The browser tests drive Debian's chromium (Playwright's own browser download cannot work
# here): installed when missing if we may (root with apt-get), else a clear stop.
chromium:
	@test -x $(CHROMIUM) && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "The browser tests need Chromium at $(CHROMIUM): install the Debian package 'chromium' (apt-get install chromium), or set CHROMIUM=/path/to/chromium"; exit 1; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy chalicelib mapstock_client

test: lint typecheck webapp chromium
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The fuzzers with a bigger budget than make test's (200 examples per operation): ~3.5 min.
fuzz: $(STAMP)
	FUZZ_EXAMPLES=1000 $(BIN)/python -m pytest tests/fuzz -q -p no:cacheprovider

run: $(STAMP) webapp
	PORT=$(PORT) $(BIN)/python -m devstack.run

deploy: $(STAMP) webapp
	@test -n "$(STAGE)" || { echo "usage: make deploy STAGE=dev|prod MAPSTOCK_ADMIN_DATABASE_URL=postgresql://..."; exit 2; }
	$(BIN)/python -m deploy deploy --stage "$(STAGE)"

destroy: $(STAMP)
	@test -n "$(STAGE)" || { echo "usage: make destroy STAGE=dev|prod [CONFIRM=prod]"; exit 2; }
	$(BIN)/python -m deploy destroy --stage "$(STAGE)"

# As root in a folder `nobody` cannot reach, .local/postgres links to the cluster kept in
# /var/lib/mapstock-dev (devstack/postgres.py): wiped with it.
clean:
	@target=$$(readlink .local/postgres); case "$$target" in /var/lib/mapstock-dev/cluster-*) rm -rf -- "$$target";; esac
	rm -rf .local

distclean: clean
	rm -rf $(VENV) webapp/node_modules chalicelib/site
