# Both targets create .venv, install the project with its dev extras (idempotently) and use it.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install bench clean browser

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/triage run

# Debian's Chromium for the dashboard's browser tests (Playwright drives it; nothing is downloaded
# by Playwright itself). Installed only when missing and we are root; otherwise those tests skip.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "make browser: could not install chromium; the browser tests will be skipped"; \
	else echo "make browser: no /usr/bin/chromium and not root; the browser tests will be skipped"; fi

test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
