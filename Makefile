# Two commands a new user needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KEY_FILE := .demo.key

.PHONY: install demo test bench clean jars

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m engine.jvm || echo "no HMAC jar (javac missing?): Spark built-ins will be used"
	touch $@

install: $(VENV)/.installed

# A throwaway key for the demo only; production keys come from a secret store.
$(KEY_FILE): | install
	$(BIN)/python -m engine.keys new --out $(KEY_FILE)

demo: install $(KEY_FILE)
	ANON_KEY="$$(cat $(KEY_FILE))" ./spark-submit.sh -- --config configs/synthea.yaml --report lake/synthea-report.json

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run.py --rows $${ROWS:-1000000}

clean:
	rm -rf build lake spark-warehouse .pytest_cache

# Fetch the Delta jars with Maven into ./jars, for machines where Ivy cannot resolve --packages.
jars:
	mvn -q -f conf/delta-jars.pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/jars
	@echo "export ANON_SPARK_JARS=$$(ls $(CURDIR)/jars/*.jar | paste -sd, -)"
