# IBDC: the user's verbs. `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock requirements-dev.lock pyproject.toml dev/pyproject.toml | sha256sum | cut -c1-12)

.PHONY: help venv up down demo demo-market airflow airflow-celery docs test test-unit bench bench-scale bench-orchestration bench-national bench-smoke lint dbt-parse clean

help:
	@echo "make demo     set up, start the local stack and Airflow, backfill the last 3 released months through the scheduler"
	@echo "make demo-market  after make demo: the data-exchange market's walk (list, agree, publish, read with delta-sharing)"
	@echo "make test     every test: unit, DAG policy, integration and end-to-end (Airflow, browser) on the local services"
	@echo "make test-unit  the unit and DAG policy tests alone: no service started or reached, under a minute"
	@echo "make up|down  start / stop the local services (PostgreSQL, S3 endpoint, source simulator)"
	@echo "make airflow  start the Airflow UI, scheduler, dag-processor and triggerer"
	@echo "make airflow-celery  the same Airflow with the CeleryExecutor: redis-server and two workers (port 28280)"
	@echo "make docs     serve the dbt docs on a local port"
	@echo "make bench    every benchmark at sizes that fit 30 minutes on 2 cores (the figures: README, Performance):"
	@echo "              load (2M telemetry rows): platform vs psql copy vs dlt; OEE marts: a new day vs history"
	@echo "              (BENCH_ROUNDS=3 rounds); memory and rows/s per telemetry style at two sizes (BENCH_SCALE_SIZES,"
	@echo "              BENCH_SCALE_ROUNDS=3); Airflow's cost: a year's backfill and the transform against the same work"
	@echo "              done directly (BENCH_ORCHESTRATION_ROUNDS=1); a national telemetry day, 31 provinces x 240,000"
	@echo "              readings from the sources to the OEE marts (BENCH_NATIONAL_ROUNDS=1; target under 300 s)"
	@echo "make bench-scale  the memory part alone (extract and load, each in its own process; BENCH_ROUNDS rounds)"
	@echo "make bench-orchestration  the Airflow part alone (backfill_year_vs_direct, transform_vs_dbt_build)"
	@echo "make bench-national  the national day alone (national_day_wall_s; BENCH_NATIONAL_DEVICES, _PROVINCES, _WORKERS)"
	@echo "make bench-smoke  every benchmark but Airflow's cost at tiny sizes, 1 round (about 3 minutes): CI runs it"
	@echo "make lint     ruff check and ruff format --check (CI runs it before the tests)"

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml dev/pyproject.toml
	@echo "creating $(VENV) with $(PYTHON) and installing the pinned dependencies (about a minute) ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==25.3
	@$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock -r requirements-dev.lock
	@$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e . -e ./dev
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

up: venv
	@$(BIN)/ibdc-dev up

down:
	@if [ -x $(BIN)/ibdc-dev ]; then $(BIN)/ibdc-dev down; else echo "nothing to stop"; fi

demo: venv
	@$(BIN)/ibdc-dev demo

demo-market: venv
	@$(BIN)/ibdc-dev demo-market

airflow: venv
	@$(BIN)/ibdc-dev airflow

CELERY_WORKERS ?= 2
airflow-celery: venv
	@$(BIN)/ibdc-dev airflow --executor celery --workers $(CELERY_WORKERS)

docs: venv
	@$(BIN)/ibdc-dev docs

dbt-parse: venv
	@$(BIN)/ibdc-dev dbt-parse

test: venv
	@$(BIN)/ibdc-dev dbt-parse
	@$(BIN)/pytest

# The DAG policy and dbt governance tests read the manifest: parsed again only when the project changed.
DBT_MANIFEST := dbt_project/target/manifest.json
# The seeds are links into plugins/ibdc/reference: -L follows them (a changed code list re-parses).
DBT_SOURCES := $(shell find -L dbt_project \( -path dbt_project/target -o -path dbt_project/logs \
	-o -path dbt_project/dbt_packages \) -prune -o -type f -print)
$(DBT_MANIFEST): $(DBT_SOURCES) $(STAMP)
	@$(BIN)/ibdc-dev dbt-parse

# No service: IBDC_TEST_UNIT makes the `services` fixture fail (tests/conftest.py), and the services'
# addresses are a closed port, so a unit test that reaches for one fails at once.
NO_SERVICES := IBDC_TEST_UNIT=1 IBDC_WAREHOUSE_DSN=postgresql://unit@127.0.0.1:1/none \
	IBDC_S3_ENDPOINT=http://127.0.0.1:1 IBDC_SIMULATOR_URL=http://127.0.0.1:1
test-unit: venv $(DBT_MANIFEST)
	@$(NO_SERVICES) $(BIN)/pytest tests/unit tests/dags

# make bench at its defaults fits 30 minutes on 2 cores (issue 20): load and OEE at BENCH_ROUNDS rounds;
# the memory part, Airflow's cost and the national day, the long ones, at rounds of their own.
# Each part alone (bench-scale, bench-orchestration, bench-national) runs BENCH_ROUNDS rounds.
BENCH_ROWS ?= 2000000
BENCH_ROUNDS ?= 3
BENCH_OEE_DEVICES ?= 10000
BENCH_OEE_HISTORY ?= 10
BENCH_SCALE_SIZES ?= 48000,240000
BENCH_SCALE_ROUNDS ?= 3
BENCH_ORCHESTRATION_ROUNDS ?= 1
BENCH_NATIONAL_DEVICES ?= 10000
BENCH_NATIONAL_PROVINCES ?= 31
BENCH_NATIONAL_WORKERS ?= 3
BENCH_NATIONAL_ROUNDS ?= 1
BENCH := $(BIN)/ibdc-dev bench
NATIONAL := --national-devices $(BENCH_NATIONAL_DEVICES) --national-provinces $(BENCH_NATIONAL_PROVINCES) \
	--national-workers $(BENCH_NATIONAL_WORKERS)
# The orchestration part's Airflow renders the transform DAG from the dbt manifest.
bench: venv $(DBT_MANIFEST)
	@$(BENCH) --only load --only oee --rows $(BENCH_ROWS) --rounds $(BENCH_ROUNDS) \
		--oee-devices $(BENCH_OEE_DEVICES) --oee-history $(BENCH_OEE_HISTORY)
	@$(BENCH) --only scale --rounds $(BENCH_SCALE_ROUNDS) --scale-sizes $(BENCH_SCALE_SIZES)
	@$(BENCH) --only orchestration --rounds $(BENCH_ORCHESTRATION_ROUNDS)
	@$(BENCH) --only national --rounds $(BENCH_NATIONAL_ROUNDS) $(NATIONAL)

bench-scale: venv
	@$(BENCH) --only scale --rounds $(BENCH_ROUNDS) --scale-sizes $(BENCH_SCALE_SIZES)

bench-orchestration: venv $(DBT_MANIFEST)
	@$(BENCH) --only orchestration --rounds $(BENCH_ROUNDS)

bench-national: venv
	@$(BENCH) --only national --rounds $(BENCH_ROUNDS) $(NATIONAL)

# CI (.ci/run, after make test): the parts at tiny sizes, 1 round (about 3 minutes), so a broken benchmark
# shows at once. Not the orchestration part: an isolated Airflow's migration and start, one month's backfill
# with its transform and a manual transform took 340 s at its smallest (1 month, 1 round).
bench-smoke: venv
	@$(BENCH) --rounds 1 --only load --rows 20000 --only oee --oee-devices 100 --oee-history 2 \
		--only scale --scale-sizes 2400,4800 --only national --national-devices 10

lint: venv
	@$(BIN)/ruff check plugins dev dags tests
	@$(BIN)/ruff format --check plugins dev dags tests

clean:
	@if [ -x $(BIN)/ibdc-dev ]; then $(BIN)/ibdc-dev destroy; fi
	rm -rf $(VENV) .local dbt_project/target dbt_project/logs
