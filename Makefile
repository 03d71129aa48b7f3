# Map Stock — the two commands: `make run` (whole stack locally) and `make test` (everything CI runs).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deps-installed
PORT   ?= 8000
STAGE  ?=

.PHONY: run test lint typecheck unit clean distclean help deploy destroy fuzz

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
# Then the client, editable: .venv/bin/mapstock runs the working tree's mapstock_client/.
$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt requirements-processing.txt pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e .
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy chalicelib mapstock_client

test: lint typecheck
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The fuzzers with a bigger budget than make test's (200 examples per operation): ~3.5 min.
fuzz: $(STAMP)
	FUZZ_EXAMPLES=1000 $(BIN)/python -m pytest tests/fuzz -q -p no:cacheprovider

run: $(STAMP)
	PORT=$(PORT) $(BIN)/python -m devstack.run

deploy: $(STAMP)
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
	rm -rf $(VENV)
