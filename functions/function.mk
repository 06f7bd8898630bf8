# `sam build`'s recipe for every function (template.yaml: BuildMethod makefile; each
# functions/<name>/Makefile includes this one). SAM's python builder copies a function's code
# without compiling it, and /var/task is read-only in Lambda, so every new container compiled
# the function's modules on import (3-12 ms of CPU here, more on Lambda's share of a CPU).
# This copies the code and compiles it once, as layers/shared/Makefile does for the layer
# (unchecked-hash .pyc: used as they are, whatever the files' times).

# The function's own folder: its Makefile, which SAM names with --makefile.
SOURCE := $(patsubst %/,%,$(dir $(abspath $(firstword $(MAKEFILE_LIST)))))
PYTHON ?= python3.12

build-%:
	cp -R "$(SOURCE)/." "$(ARTIFACTS_DIR)/"
	rm -f "$(ARTIFACTS_DIR)/Makefile"
	find "$(ARTIFACTS_DIR)" -name __pycache__ -prune -exec rm -rf {} +
	$(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)"
