# Quick start: `make demo` (set-up + the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ED := $(BIN)/edgedigits
STAMP := $(VENV)/.installed
ART := artifacts

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "edgedigits needs Python >= 3.10, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=64"
	$(BIN)/python -m pip install --quiet -e ".[host,device,serve,deploy,dev]"
	@# Keras' model diagrams need Graphviz's `dot`: install it where we may, else training says so and goes on.
	@command -v dot >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq graphviz >/dev/null 2>&1; } || \
	  echo "note: Graphviz 'dot' not installed (apt-get install graphviz): model diagrams will be skipped"
	touch $(STAMP)

demo: $(STAMP)
	@start=$$(date +%s); set -e; \
	$(ED) data; \
	$(ED) train --model conv_net --epochs 8 --augment --out $(ART)/conv_net; \
	$(ED) train --model mlp_one_layer --epochs 10 --out $(ART)/mlp_one_layer; \
	$(ED) convert $(ART)/conv_net --pick fastest; \
	$(ED) convert $(ART)/mlp_one_layer --pick fastest; \
	$(ED) bench $(ART)/conv_net; \
	$(ED) bench $(ART)/mlp_one_layer; \
	$(ED) footage $(ART)/demo.mp4; \
	$(ED) run --source $(ART)/demo.mp4 --model $(ART)/conv_net --headless --truth $(ART)/demo.truth.json; \
	echo "demo finished in $$(( $$(date +%s) - start )) s"

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(ART) .pytest_cache
