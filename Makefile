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
	@# Keras' model diagrams need Graphviz's `dot`, and printed digits come in more font families with Debian's
	@# fonts (matplotlib's own always serve): install them where we may, else say so and go on.
	@{ command -v dot >/dev/null && [ -d /usr/share/fonts/truetype/liberation2 ]; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq >/dev/null 2>&1 && \
	    apt-get install -y -qq graphviz fonts-dejavu-core fonts-liberation2 fonts-freefont-ttf >/dev/null 2>&1; } || \
	  echo "note: Graphviz 'dot' or Debian's fonts not installed (apt-get install graphviz fonts-liberation2 fonts-freefont-ttf): model diagrams are skipped, printed digits use matplotlib's fonts"
	touch $(STAMP)

demo: $(STAMP)
	@start=$$(date +%s); set -e; \
	$(ED) data; \
	$(ED) train --model conv_net --epochs 8 --augment --out $(ART)/conv_net; \
	$(ED) train --model conv_net --world --epochs 12 --augment --out $(ART)/live; \
	$(ED) convert $(ART)/conv_net --pick fastest; \
	$(ED) convert $(ART)/live; \
	$(ED) bench $(ART)/conv_net; \
	$(ED) bench $(ART)/live; \
	$(ED) footage $(ART)/demo.mp4; \
	$(ED) run --source $(ART)/demo.mp4 --headless --truth $(ART)/demo.truth.json; \
	$(ED) footage $(ART)/desk.mp4 --condition grid_desk --frames 30; \
	$(ED) run --source $(ART)/desk.mp4 --headless --truth $(ART)/desk.truth.json; \
	echo "demo finished in $$(( $$(date +%s) - start )) s"

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(ART) .pytest_cache
