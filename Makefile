# paylake developer entry points. `make demo` and `make test` bootstrap everything they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The stamp changes whenever pyproject.toml changes, so `make setup` re-installs only when needed.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)
AS_OF ?= 2026-11-20
LAKE ?= lakehouse
PYTEST_ARGS ?= --durations=25
SCALE ?= 1.0
ENGINES ?= local,local-spark
# Airflow lives in its own environment (as on MWAA): its pins would fight paylake's. Tests import the DAG with it.
AIRFLOW_VENV ?= .venv-airflow
AIRFLOW_PINS := apache-airflow==2.10.5 apache-airflow-providers-databricks==7.7.5
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-$(shell echo '$(AIRFLOW_PINS)' | cksum | cut -d' ' -f1)

.PHONY: setup jars airflow-env browser demo test test-fast hostile chaos fuzz small-files spark-jobs bench lint check-prereqs sample clean

check-prereqs:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "paylake: '$(PYTHON)' not found; install Python 3.10+ (set PYTHON=... to choose one)." >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' || { echo "paylake: Python 3.10+ is required, found $$($(PYTHON) --version 2>&1)." >&2; exit 1; }
	@java_bin="$${JAVA_HOME:+$$JAVA_HOME/bin/}java"; \
	if ! command -v "$$java_bin" >/dev/null 2>&1; then \
	  echo "paylake: Java 17+ is required by Spark but no 'java' was found (JAVA_HOME='$${JAVA_HOME:-}'). Install a JDK 17, e.g. 'apt-get install openjdk-17-jdk-headless', or set JAVA_HOME." >&2; exit 1; fi; \
	version=$$("$$java_bin" -version 2>&1 | awk -F'"' '/version/ {print $$2; exit}'); \
	major=$${version%%.*}; [ "$$major" = "1" ] && major=$$(echo "$$version" | cut -d. -f2); \
	if [ -z "$$major" ] || [ "$$major" -lt 17 ] 2>/dev/null; then \
	  echo "paylake: Java 17+ is required by Spark, found '$${version:-unknown}' at $$(command -v $$java_bin). Install a JDK 17 or point JAVA_HOME at one." >&2; exit 1; fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[local,dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

# The Delta Lake jars of the local Spark + Delta engine (--env local-spark), pinned in jars/pom.xml and fetched with
# Maven into jars/lib/. `make setup` tries once and carries on without them (the embedded engine needs no jars);
# `make test` needs them.
JARS_STAMP := jars/lib/.fetched-$(shell cat jars/pom.xml 2>/dev/null | cksum | cut -d' ' -f1)

$(JARS_STAMP): jars/pom.xml
	@command -v mvn >/dev/null 2>&1 || { echo "paylake: Maven ('mvn') is needed to fetch the Delta Lake jars of the local Spark + Delta engine; install it, e.g. 'apt-get install maven'." >&2; exit 1; }
	@rm -rf jars/lib && mkdir -p build
	@echo "fetching the Delta Lake jars (jars/pom.xml) with mvn"
	@mvn -q -B -f jars/pom.xml dependency:copy-dependencies -DexcludeTransitive=true -DoutputDirectory=lib >build/mvn-jars.log 2>&1 || { \
	  echo "paylake: mvn could not fetch the Delta Lake jars of jars/pom.xml (is Maven Central reachable?); its output is in build/mvn-jars.log:" >&2; \
	  grep -m 3 -E 'ERROR|Could not' build/mvn-jars.log >&2; exit 1; }
	@touch $@

jars: $(JARS_STAMP)

setup: check-prereqs $(STAMP)
	@$(MAKE) -s jars || echo "paylake: continuing without the Delta Lake jars: the embedded engine (make demo) needs none, --env local-spark and make test do ('make jars' retries)." >&2

$(AIRFLOW_STAMP):
	@test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet $(AIRFLOW_PINS)
	@rm -f $(AIRFLOW_VENV)/.installed-* && touch $(AIRFLOW_STAMP)

airflow-env: check-prereqs $(AIRFLOW_STAMP)

# Headless Chromium (Debian package) for the dashboard's screenshot (make demo) and browser test (make test).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; else \
	    echo "paylake: the dashboard test needs Chromium; install the Debian package 'chromium' (as root)." >&2; exit 1; fi; \
	  echo "installing Debian chromium for the dashboard browser test"; \
	  $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; } || { \
	    echo "paylake: could not install Chromium with apt-get; install the Debian package 'chromium'." >&2; exit 1; }; }

demo: setup
	$(VENV)/bin/paylake run all --env local --as-of $(AS_OF) --lake $(LAKE)
	@$(MAKE) -s browser || echo "paylake: no Chromium, so no screenshot; the dashboard is still written" >&2
	$(VENV)/bin/paylake dashboard --lake $(LAKE) --out build/dashboard.html \
	  $$(command -v chromium >/dev/null 2>&1 && echo --screenshot build/dashboard.png)

test: setup jars airflow-env browser
	PAYLAKE_AIRFLOW_PYTHON=$(AIRFLOW_VENV)/bin/python $(PY) -m pytest $(PYTEST_ARGS)

# The unit tests on the embedded engine (tiny DataFrames, config, the bundle, the package's floors): the edit loop,
# under two minutes; the Spark SCD2 writers' and native Delta's cases run in `make test`.
test-fast: setup jars
	$(PY) -m pytest tests/unit -m "not slow" $(PYTEST_ARGS)

# The hostile corpora whole (tests/hostile): every CSV and metadata case, `make test`'s subset included.
hostile: setup jars
	$(PY) -m pytest tests/integration/test_hostile_csv.py tests/integration/test_hostile_metadata.py -m "extended or not extended" $(PYTEST_ARGS)

# Crash safety measured (bench/chaos.py): `paylake run all`, `maintain` and `rollback` killed KILLS times at random
# moments, re-run, compared with an uninterrupted run; writes build/chaos/results.json. CHAOS_MINUTES bounds a
# partial run; CHAOS_LANES runs that many episodes side by side. make test keeps a deterministic subset.
KILLS ?= 200
CHAOS_LANES ?= 1
chaos: setup
	$(PY) bench/chaos.py --kills $(KILLS) --lanes $(CHAOS_LANES) $(if $(CHAOS_MINUTES),--budget-minutes $(CHAOS_MINUTES))

# Generated messy rows through bronze, every row accounted for (bench/fuzz.py); writes build/fuzz/results.json.
FUZZ_ROWS ?= 100000
fuzz: setup
	$(PY) bench/fuzz.py --rows $(FUZZ_ROWS)

# Seeded dataset (SCALE=1.0: 20k accounts, ~1M invoices, ~3M line items), full load + 1 daily increment as whole
# processes on the embedded engine, then on the local Spark + Delta engine (ENGINES=local for the first alone);
# writes build/bench/results.json and prints the table. At SCALE=1.0 it also runs the growth curve (CURVE: the
# embedded engine at each scale; CURVE= skips it). SCALE=0.01 is the smoke run.
DEFAULT_CURVE := 0.1,1,5
CURVE ?= $(if $(filter 1.0,$(SCALE)),$(DEFAULT_CURVE))
bench: setup jars
	$(PY) bench/run_bench.py --scale $(SCALE) --engines $(ENGINES) --curve "$(CURVE)"

# Daily increments leave small files; `paylake maintain` compacts them (bench/small_files.py): DAYS daily runs, then
# every table's files and read time before and after maintenance; writes build/small-files/results.json.
DAYS ?= 90
small-files: setup
	$(PY) bench/small_files.py --days $(DAYS)

# Which Spark jobs `paylake run all` runs on the bundled sample, per table and by what started them (a paylake
# line or one of Delta's steps), from Spark's event log (bench/spark_jobs.py); JOBS_ENV=local for the embedded engine.
JOBS_ENV ?= local-spark
spark-jobs: setup jars
	$(PY) bench/spark_jobs.py --env $(JOBS_ENV)

lint: setup
	$(VENV)/bin/ruff check src tests airflow notebooks bench
	$(VENV)/bin/ruff format --check src tests airflow bench
	$(VENV)/bin/mypy src bench/run_bench.py bench/chaos.py bench/fuzz.py bench/small_files.py bench/spark_jobs.py

# Regenerates the bundled sample feeds under landing/ (deterministic: same seed, same bytes).
sample: setup
	rm -rf landing/accounts landing/skus landing/invoices landing/invoice_line_items
	$(VENV)/bin/paylake generate --accounts 240 --skus 60 --days 90 --end $(AS_OF) --seed 7 --out landing

clean:
	rm -rf $(LAKE) build .pytest_cache
