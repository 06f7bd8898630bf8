# Two commands a newcomer needs (see README): `make demo` and `make test`.
# Everything runs from .venv, made here from Python 3.12 (selected by .python-version).
# Dependencies: one declaration (pyproject.toml), one lock (uv.lock); `make lock` exports every
# requirements file from it, and each environment installs its file with hashes.

SHELL := /bin/bash
PY ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= eu-west-1
FUNCTION_PATHS := layers/shared:functions/sender:functions/callbacks:functions/media:functions/events:devtools

.PHONY: venv lock lint typecheck unit template build test drill scan bench cost sandbox demo up samlocal sam schemas clean

venv: $(STAMP)

# uv (pinned, hashed) is bootstrapped with the interpreter's pip, then installs the rest exactly
# as requirements/dev.txt says (and removes what it does not).
$(STAMP): requirements/dev.txt requirements/uv.txt
	test -x $(UV) || { $(PY) -m venv $(VENV) && \
	  $(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/uv.txt; }
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes requirements/dev.txt
	touch $(STAMP)

# After editing pyproject.toml's dependencies or requirements/*.in: resolve, then export every
# requirements file (with hashes). Versions already locked are kept; `make lock UPGRADE=1`
# moves everything to the newest that fits. tests/repository checks nothing drifts.
UV_COMPILE := $(UV) pip compile --quiet --universal --python-version 3.12 --generate-hashes
lock: venv
	$(UV) lock --quiet $(if $(UPGRADE),--upgrade)
	$(UV) export --quiet --frozen --no-default-groups --no-emit-project -o layers/shared/requirements.txt
	$(UV) export --quiet --frozen --no-default-groups --group dev --no-emit-project -o requirements/dev.txt
	$(UV) export --quiet --frozen --only-group uv -o requirements/uv.txt
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) requirements/sam.in -o requirements/sam.txt
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) requirements/checkov.in -o requirements/checkov.txt
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) requirements/awscli.in -o requirements/awscli.txt

# Tools that pin their own world get environments of their own, made by uv from their
# requirements/<tool>.txt: the SAM CLI (with cfn-lint) in .venv-sam, checkov in .venv-checkov.
.venv-%/.installed: requirements/%.txt | venv
	$(UV) venv --quiet --allow-existing --python $(PY) .venv-$*
	$(UV) pip sync --quiet --python .venv-$*/bin/python --require-hashes $<
	touch $@

SAM := .venv-sam/bin/sam
# The SAM CLI on its own: afterwards `export PATH="$$PWD/.venv-sam/bin:$$PATH"` puts `sam` on PATH.
sam: .venv-sam/.installed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy layers/shared functions devtools tests bench

# The AWS CLI v1 (.venv-awscli) runs the README's local examples in tests/local.
# The SAM CLI (.venv-sam) builds the layer for each architecture in tests/template.
unit: venv .venv-awscli/.installed .venv-sam/.installed
	$(BIN)/pytest -m "not drill"

template: .venv-sam/.installed
	$(SAM) validate --lint
	$(SAM) build --cached --parallel >/dev/null && echo "sam build: ok"

# The one test command (README and .ci/run call exactly this).
test: lint typecheck unit template

# The whole product locally (moto + the sandbox platform): one send of each kind, a table.
demo: venv
	PYTHONPATH=$(FUNCTION_PATHS) $(BIN)/python -m messaggio_local demo

# The same, kept running for manual use (python -m messaggio_local send/status).
up: venv
	PYTHONPATH=$(FUNCTION_PATHS) $(BIN)/python -m messaggio_local up $(ARGS)

# The README's `sam local` recipe, end to end, each effect checked (needs Docker; skips without
# it; not part of `make test`). SAM_LOCAL_INVOKE_IMAGE=<image> runs the functions in that image.
samlocal: venv .venv-sam/.installed
	PYTHONPATH=$(FUNCTION_PATHS) SAM=$(SAM) $(BIN)/python -m messaggio_local.samlocal

# The benchmarks of issues 7 and 14 (loopback only: moto + the sandbox); they report figures and
# never fail on time.
bench: venv
	PYTHONPATH=$(FUNCTION_PATHS):. $(BIN)/python -m bench

# What a million messages cost on AWS, measured on the local stack, next to a Lambda per
# message and an always-on container (bench/cost.py; prices: bench/prices-eu-west-1.json,
# or PRICES=your-region.json). Also the last section of `make bench`.
cost: venv
	PYTHONPATH=$(FUNCTION_PATHS):. $(BIN)/python -m bench.cost

# Fault drills: seeded scenarios whose books must balance (they print their counts).
drill: venv
	$(BIN)/pytest -m drill -p no:randomly -q

# Scanners on the template: cfn-lint (the SAM CLI's) and checkov, each from its own environment.
scan: .venv-sam/.installed .venv-checkov/.installed
	.venv-sam/bin/cfn-lint template.yaml
	.venv-checkov/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml

# schemas/send-request.json from the sender's model (a test fails when they disagree).
schemas: venv
	PYTHONPATH=$(FUNCTION_PATHS) $(BIN)/python -m messaggio_local schemas

# The sandbox platform, standalone (see README).
sandbox: venv
	PYTHONPATH=$(FUNCTION_PATHS) $(BIN)/python -m messaggio_sandbox --port 8401

clean:
	rm -rf .aws-sam .mypy_cache .pytest_cache .ruff_cache local-*.log .local-stack.json
