# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv and install the
# project on first use (and again only when pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= demo
DEMO_VIDEOS ?= 24
DEMO_SEED ?= 7

.PHONY: install demo test clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(BIN)/vcurate synth $(DEMO)/archive --videos $(DEMO_VIDEOS) --seed $(DEMO_SEED)
	$(BIN)/vcurate run pipelines/default.yaml --input $(DEMO)/archive/raw --output $(DEMO)/out --overwrite
	$(BIN)/vcurate eval $(DEMO)/out --truth $(DEMO)/archive/ground_truth.jsonl | tee $(DEMO)/eval.json

# pytest exits 5 when it collects no test: say so instead of failing the build.
test: install
	$(BIN)/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

clean:
	rm -rf $(DEMO) .pytest_cache
