# Two commands a newcomer needs (see README): `make demo` and `make test`.
# Everything runs from .venv, made here from Python 3.12 (selected by .python-version).

SHELL := /bin/bash
PY ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= eu-west-1
FUNCTION_PATHS := layers/shared:functions/sender:functions/callbacks:functions/media:devtools

.PHONY: venv lock lint typecheck unit template build test drill scan bench sandbox demo up clean

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# Re-pin after changing requirements.in (keeps the layer's pins in step by hand).
lock: venv
	$(BIN)/pip install --quiet -r requirements.in
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e ' > requirements-dev.txt

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy layers/shared functions devtools tests bench

unit: venv
	$(BIN)/pytest -m "not drill"

template: venv
	$(BIN)/sam validate --lint
	$(BIN)/sam build --cached --parallel >/dev/null && echo "sam build: ok"

# The one test command (README and .ci/run call exactly this).
test: lint typecheck unit template

# The whole product locally (moto + the sandbox platform): one send of each kind, a table.
demo: venv
	PYTHONPATH=$(FUNCTION_PATHS) $(BIN)/python -m messaggio_local demo

# The same, kept running for manual use (python -m messaggio_local send/status).
up: venv
	PYTHONPATH=$(FUNCTION_PATHS) $(BIN)/python -m messaggio_local up $(ARGS)

# The six benchmarks of issue 7 (loopback only: moto + the sandbox); they report figures and
# never fail on time.
bench: venv
	PYTHONPATH=$(FUNCTION_PATHS):. $(BIN)/python -m bench

# Fault drills: seeded scenarios whose books must balance (they print their counts).
drill: venv
	$(BIN)/pytest -m drill -p no:randomly -q

# Scanners on the template: cfn-lint, and checkov in a virtual environment of its own (it
# pins an old boto3 that must not reach the project's).
CHECKOV := .venv-checkov/bin/checkov
$(CHECKOV):
	$(PY) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --upgrade pip
	.venv-checkov/bin/pip install --quiet -r requirements-checkov.txt

scan: venv $(CHECKOV)
	$(BIN)/cfn-lint template.yaml
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f template.yaml

# The sandbox platform, standalone (see README).
sandbox: venv
	PYTHONPATH=$(FUNCTION_PATHS) $(BIN)/python -m messaggio_sandbox --port 8401

clean:
	rm -rf .aws-sam .mypy_cache .pytest_cache .ruff_cache local-*.log .local-stack.json
