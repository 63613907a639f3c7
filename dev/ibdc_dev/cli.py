"""``ibdc-dev``: the developer's verbs behind the Makefile (up, down, destroy, demo, airflow, docs, bench).

The platform's own verbs (``ibdc provision``, ``ibdc dbt-parse``: :mod:`ibdc.cli`) are reached through it
too, on the local stack's environment: ``ibdc-dev dbt-parse`` is ``ibdc dbt-parse`` with the local secrets.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime

from ibdc import cli as platform_cli
from ibdc import governance
from ibdc.datasets import DATASETS
from ibdc.periods import last_complete_months
from ibdc.reference import provinces
from ibdc.settings import Settings, get_settings
from ibdc.sources.registry import load_registry, source_for
from ibdc.transform.dbt import run_dbt
from ibdc_dev.localstack import airflow as local_airflow
from ibdc_dev.localstack import postgres, processes, seaweedfs, stack
from ibdc_dev.localstack.env import SECRETS_FILE, USER_ENV_FILE, load_local_env
from ibdc_dev.localstack.processes import LOG_DIR

MAIN_DATASET = "industrial_output"
TRANSFORM_DAG = "ibdc_transform_dbt"


def say(msg: str = "") -> None:
    print(msg, flush=True)


class Step:
    """Numbered progress lines with timings for the long verbs."""

    def __init__(self, total: int) -> None:
        self.total, self.n, self.t0 = total, 0, time.monotonic()

    def __call__(self, what: str):
        self.n += 1
        say(f"[{self.n}/{self.total}] {what} ...")
        return _Timer()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0


class _Timer:
    def __enter__(self):
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            say(f"      done in {time.monotonic() - self.t0:.0f}s")


def prepare_airflow(settings: Settings) -> None:
    """Manifest for the transform DAG (read at parse time, no dbt then) and Airflow's metadata DB."""
    run_dbt("parse", "--quiet")
    local_airflow.run(settings, "db", "migrate", log=LOG_DIR / "airflow-db-migrate.log")


# Backfilled by the demo: the statistics, whose latest month the sources release mid-next-month (the
# scheduler's own run of it waits for the release). The other datasets' latest periods are
# collected by the scheduler's own runs, which it creates as their DAGs are unpaused.
DEMO_BACKFILLED = (MAIN_DATASET, "electricity_consumption")


def demo_market_verb() -> None:
    """``make demo-market``: :mod:`ibdc_dev.demo_market` on the local stack, with numbered, timed steps."""
    from ibdc_dev import demo_market

    step = Step(6)
    settings = stack.up(say=lambda m: None)
    demo_market.run(settings, step, say)
    say(f"market demo done in {step.elapsed():.0f}s")


def demo_plan(today: date, months: int) -> list[tuple[str, str]]:
    """(dataset, month) backfilled by the demo: industrial output for the last ``months`` months
    released by ``today`` (a month's statistics come out mid-next-month: ``available_after``), and
    electricity consumption for the last of them."""
    window = last_complete_months(today - DATASETS[MAIN_DATASET].available_after, months)
    return [(MAIN_DATASET, p) for p in window] + [(d, window[-1]) for d in DEMO_BACKFILLED[1:]]


def demo_runs(api, started: datetime) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """What the extract DAGs' runs did: (dataset, period) of the latest successful scheduled run of
    each dataset the demo does not backfill (the scheduler made it when it first saw the DAG, in this
    demo or an earlier one); the scheduled runs still waiting for their source's release; the runs
    started since ``started`` (backfills and the scheduler's own) that failed."""
    from ibdc.orchestration import extract_dag_id, period_of

    loaded, waiting, failed = [], [], []
    for dataset, spec in DATASETS.items():
        path = f"/dags/{extract_dag_id(dataset)}/dagRuns"

        def period(run, cadence=spec.cadence):
            return period_of(cadence, datetime.fromisoformat(run["data_interval_start"]))

        scheduled = api.get(path, run_type="scheduled", order_by="-run_after", limit=10)["dag_runs"]
        waiting += [f"{dataset} {period(r)}" for r in scheduled if r["state"] == "running"]
        done = [r for r in scheduled if r["state"] == "success"]
        if done and dataset not in DEMO_BACKFILLED:
            loaded.append((dataset, period(done[0])))
        since = api.get(path, start_date_gte=started.isoformat(), state="failed", limit=100)["dag_runs"]
        failed += [f"{dataset} {period(r)} ({r['run_type']})" for r in since]
    return loaded, waiting, failed


def demo(months: int) -> None:
    """The main job as production runs it: Airflow's services started (left running for the UI),
    backfills of the statistics' last released months requested over the REST API as the UI does,
    the scheduler's own runs of the other datasets' latest periods, then the transform their
    assets trigger (once every load has settled); a summary from the warehouse."""
    from ibdc.orchestration import extract_dag_id
    from ibdc_dev.localstack import airflow_runs
    from ibdc_dev.localstack.airflow_api import AirflowApi

    backfills = demo_plan(datetime.now(UTC).date(), months)
    steps = Step(5)
    with steps("starting local services"):
        settings = stack.up(say=lambda m: say("      " + m), write_env=True)
    # Before Airflow starts: the scheduler's own runs, created as it first sees the DAGs, are the demo's.
    started = datetime.now(UTC)
    with steps("dbt parse, Airflow's metadata migration and services (first run: about 30 s)"):
        prepare_airflow(settings)
        local_airflow.start_services(settings, say=lambda m: say("      " + m))
        api = AirflowApi(settings.airflow_url, settings.airflow_admin_password)
        for dag_id in [*map(extract_dag_id, DATASETS), TRANSFORM_DAG]:
            api.wait_for(f"{dag_id} parsed", lambda d=dag_id: api.exists(f"/dags/{d}"), timeout_s=180, every_s=1)
    periods = {d: [p for dd, p in backfills if dd == d] for d in DEMO_BACKFILLED}
    what = "; ".join(f"{d} {ps[0]}" + (f"..{ps[-1]}" if len(ps) > 1 else "") for d, ps in periods.items())
    with steps(f"backfills through the scheduler ({what}) and its own latest runs: 31 provinces each"):
        for dataset, ps in periods.items():
            # A second demo collects the same months again (loads replace partitions). The backfill's
            # runs are created by the request, queued: waiting for the loads to settle waits for them
            # (the backfill's own completion is marked later, by a periodic check of the scheduler).
            airflow_runs.no_active_backfill(api, extract_dag_id(dataset))  # a demo run moments ago
            airflow_runs.start_backfill(
                api, ps, dag_id=extract_dag_id(dataset), max_active_runs=3, reprocess_behavior="completed"
            )
        extract_dags = [extract_dag_id(d) for d in DATASETS]
        api.wait_for(
            "every load to settle", lambda: not airflow_runs.loads_under_way(api, extract_dags), 900, every_s=1
        )
    with steps(f"the asset-triggered {TRANSFORM_DAG}: dbt seeds, staging, marts, tests, docs"):
        airflow_runs.await_transform(api, started, timeout_s=900, every_s=1)
    with steps("summary"):
        scheduled, waiting, failed = demo_runs(api, started)
        waits = ", ".join(waiting) or "none"
        say(f"      scheduled runs waiting for their source's release (nothing requested yet): {waits}")
        if failed:  # the audit would still show an earlier demo's loads of the same partitions
            raise SystemExit(f"runs failed: {', '.join(failed)}; see the Airflow UI and {LOG_DIR}")
        summary(settings, backfills + scheduled)
    say(f"\nDone in {steps.elapsed():.0f}s.")
    say(f"""
Where to look next:
  Airflow UI     {settings.airflow_url}  (left running: the runs above, their durations, the Backfills tab)
                 login: {local_airflow.ADMIN_USER}, password: {local_airflow.ADMIN_PASSWORD_VAR} in {SECRETS_FILE}
  dbt docs       make docs      (standalone), or "dbt docs" in the Airflow UI's Browse menu
  warehouse      psql "$IBDC_WAREHOUSE_DSN"  after: set -a; . {USER_ENV_FILE}; set +a
  raw zone       s3://{settings.raw_bucket}/<dataset>/province=<code>/period=<period>/ at {settings.s3}
  logs           {LOG_DIR}/
  stop           make down   (Airflow's scheduler polls ten times a second: stop it before timing anything)
""")


def summary(settings: Settings, runs: list[tuple[str, str]]) -> None:
    """Rows loaded and quarantined per dataset and province, from the audit of the demo's loads; the
    partitions a source has not released yet or the calendar does not publish (nothing loaded).

    Read as the administrator's reader (:func:`ibdc.governance.reader_connection`), never as the
    administrator: the mart is the transformer's, and what a query of it runs (a view's functions)
    would run with the querying session's rights."""
    with governance.reader_connection(settings.warehouse) as conn:
        audit = conn.execute(
            "SELECT DISTINCT ON (dataset, province_code, period) dataset, province_code, period,"
            " rows_loaded, rows_quarantined, outcome FROM raw.load_audit"
            " WHERE outcome IN ('succeeded', 'not_released', 'not_published')"
            " AND (dataset, period) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
            " ORDER BY dataset, province_code, period, finished_at DESC",
            ([d for d, _ in runs], [p for _, p in runs]),
        ).fetchall()
        months = [p for d, p in runs if d == MAIN_DATASET]
        mart_rows, national_cells = conn.execute(
            "SELECT count(*), count(DISTINCT (product_code, period_month)) FROM marts.mart_industrial_output_monthly"
            " WHERE to_char(period_month, 'YYYY-MM') = ANY(%s)",
            (months,),
        ).fetchone()
        # What provincial analysts see of the national figures (disclosure control: docs/governance.md).
        # Per reason: cells (product x month) and provincial rows.
        suppressed = conn.execute(
            "SELECT national_suppression, count(DISTINCT (product_code, period_month)), count(*)"
            " FROM marts.mart_industrial_output_monthly_disclosed WHERE to_char(period_month, 'YYYY-MM') = ANY(%s)"
            " AND national_suppression IS NOT NULL GROUP BY 1 ORDER BY 1",
            (months,),
        ).fetchall()
    names = list(DATASETS)
    totals = {(d, c): (0, 0) for d in names for c in provinces()}
    unloaded: dict[str, list[str]] = {"not_released": [], "not_published": []}
    for dataset, code, period, loaded, quarantined, outcome in audit:
        if outcome in unloaded:
            unloaded[outcome].append(f"{dataset} {code} {period}")
            continue
        done, bad = totals[dataset, code]
        totals[dataset, code] = (done + loaded, bad + quarantined)
    say("      rows loaded / quarantined per province and dataset (all the demo's periods)")
    say("      province                  style (output's)            " + "".join(f"{n:>24}" for n in names))
    for code, prov in provinces().items():
        output, own = source_for(code, MAIN_DATASET).style, load_registry()[code].style
        styles = f"{output} ({own})" if own != output else str(own)
        cells = "".join(f"{totals[n, code][0]:>17} / {totals[n, code][1]:<4}" for n in names)
        say(f"      {code} {prov.name_en:<18} {styles:<27} {cells}")
    cells = "".join(
        f"{sum(totals[n, c][0] for c in provinces()):>17} / {sum(totals[n, c][1] for c in provinces()):<4}"
        for n in names
    )
    say(f"      {'total':<54} {cells}")
    for outcome, label in (("not_released", "not released yet"), ("not_published", "not published (calendar)")):
        parts = unloaded[outcome]
        say(f"      {label}: {len(parts)} partitions" + (f": {', '.join(sorted(parts))}" if parts else ""))
    loaded_output = sum(totals[MAIN_DATASET, c][0] for c in provinces())
    say(f"      mart rows (marts.mart_industrial_output_monthly, demo months): {mart_rows}")
    reasons = ", ".join(f"{reason}: {n} cells, {rows} rows" for reason, n, rows in suppressed) or "none"
    say(f"      national figures suppressed for provincial analysts ({national_cells} product-month cells): {reasons}")
    missing = [(d, p) for d, p in runs if not any(a[0] == d and a[2] == p for a in audit)]
    if missing:
        raise SystemExit(f"no load recorded for {missing}: see the logs above")
    if mart_rows != loaded_output:
        raise SystemExit("the mart does not hold every loaded row: see the logs above")


CELERY_AIRFLOW_PORT = 28280
DOCS_PORT = 28081  # make docs
CELERY_AIRFLOW_DB = "airflow_celery"


def airflow_up(executor: str = "local", workers: int = 2, concurrency: int = 4) -> None:
    """``make airflow`` (LocalExecutor, port 28080, metadata ``airflow``) or ``make airflow-celery``
    (CeleryExecutor: redis-server and ``workers`` workers; port 28280, metadata ``airflow_celery``, so
    both can run side by side on the same warehouse)."""
    settings = stack.up(say=lambda m: say("  " + m), write_env=executor == "local")
    celery, prefix, env = None, "airflow", None
    if executor == "celery":
        settings = settings.model_copy(update={"airflow_port": CELERY_AIRFLOW_PORT, "airflow_db": CELERY_AIRFLOW_DB})
        postgres.create_databases(settings.warehouse, [settings.airflow_db])
        celery, prefix = local_airflow.CeleryWorkers(count=workers, concurrency=concurrency), "airflow-celery"
        # Its own task log folder: the same run ids as make airflow's must not share files.
        env = {"AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(local_airflow.AIRFLOW_HOME / "logs-celery")}
    prepare_airflow(settings)
    local_airflow.start_services(settings, say=lambda m: say("  " + m), prefix=prefix, celery=celery, env=env)
    say(
        f"\nAirflow UI: {settings.airflow_url}  login: {local_airflow.ADMIN_USER}, password: "
        f"{local_airflow.ADMIN_PASSWORD_VAR} in {SECRETS_FILE}\nStop everything with: make down"
    )


def serve_docs(port: int) -> None:
    """The same docs the Airflow plugin serves: the copy published in the docs bucket."""
    import uvicorn

    from ibdc.transform import docs

    stack.up(say=lambda m: None)  # the user's shell file stays as `up` wrote it
    if not docs.published():
        say("no dbt docs published yet: generating and publishing them ...")
        docs.generate_and_publish()
    say(f"dbt docs on http://127.0.0.1:{port}/  (Ctrl-C to stop)")
    # No login here: bound to 127.0.0.1, for the developer (the Airflow plugin's copy requires one).
    uvicorn.run(docs.docs_app(), host="127.0.0.1", port=port, log_level="warning")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and (argv[0] in platform_cli.VERBS or argv[0] == "exchange"):
        if not (argv[0] == "provision" and os.environ.get("IBDC_WAREHOUSE_DSN")):
            load_local_env()
        return platform_cli.main(argv)
    parser = argparse.ArgumentParser(prog="ibdc-dev", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("up", help="start the local services (idempotent)")
    for verb, text in platform_cli.VERBS.items():
        sub.add_parser(verb, help=f"{text} (ibdc {verb}, on the local stack's environment)")
    sub.add_parser("down", help="stop the local services (idempotent)")
    sub.add_parser("destroy", help="stop the local services and delete their data (warehouse cluster, raw zone)")
    p_demo = sub.add_parser("demo", help="run the platform's main job through Airflow on local defaults")
    p_demo.add_argument("--months", type=int, default=3, help="complete months to collect (default 3)")
    sub.add_parser(
        "demo-market",
        help="the data-exchange market's walk after make demo: list, agree, publish, read (docs/exchange.md)",
    )
    p_airflow = sub.add_parser("airflow", help="start the Airflow UI and its services on the local metadata")
    p_airflow.add_argument(
        "--executor",
        choices=("local", "celery"),
        default="local",
        help="local: LocalExecutor on port 28080; celery: CeleryExecutor, redis-server and workers, on port 28280",
    )
    p_airflow.add_argument("--workers", type=int, default=2, help="Celery workers (--executor celery; default 2)")
    p_airflow.add_argument("--concurrency", type=int, default=4, help="task slots per Celery worker (default 4)")
    p_bench = sub.add_parser(
        "bench",
        help="benchmarks: loading vs psql \\copy and dlt; a new day of the OEE marts; memory per style at two sizes;"
        " Airflow's cost over the work (a year's backfill, the transform)",
    )
    p_bench.add_argument("--rows", type=int, default=2_000_000, help="telemetry rows loaded (load benchmark)")
    p_bench.add_argument("--rounds", type=int, default=3)
    p_bench.add_argument("--oee-devices", type=int, default=10_000, help="devices a day (x 24 rows), OEE benchmark")
    p_bench.add_argument("--oee-history", type=int, default=10, help="days of history, then 4 times as many")
    p_bench.add_argument(
        "--scale-sizes",
        type=lambda v: [int(n) for n in v.split(",")],
        default=[48_000, 240_000],
        help="readings a province-day, comma-separated (scale benchmark: memory per style at each size; the"
        " largest also the client's rows/s against psql \\copy, in --rounds rounds)",
    )
    p_bench.add_argument(
        "--scale-styles",
        type=lambda v: v.split(","),
        default=None,
        help="API styles measured, comma-separated (scale benchmark; default: every style serving telemetry)",
    )
    p_bench.add_argument(
        "--orchestration-months",
        type=lambda v: v.split(","),
        default=None,
        help="months backfilled through Airflow, comma-separated (orchestration benchmark; default: 2025's 12)",
    )
    # The national part (issue 20): a national telemetry day from the sources to the OEE marts.
    p_bench.add_argument(
        "--national-devices", type=int, default=10_000, help="devices a province-day (x 24 readings), national day"
    )
    p_bench.add_argument(
        "--national-provinces", type=int, default=None, help="provinces of the national day (default: all 31)"
    )
    p_bench.add_argument(
        "--national-workers", type=int, default=3, help="partitions extracted and loaded at once, national day"
    )
    p_bench.add_argument(
        "--only",
        choices=("load", "oee", "scale", "orchestration", "national"),
        action="append",
        help="run only this part (repeatable)",
    )
    p_docs = sub.add_parser("docs", help="serve the dbt docs on a local port")
    p_docs.add_argument("--port", type=int, default=DOCS_PORT)
    args = parser.parse_args(argv)

    if args.verb == "bench":  # its own database and bucket, never the demo's
        os.environ.update(IBDC_WAREHOUSE_DB="ibdc_bench", IBDC_RAW_BUCKET="ibdc-raw-bench")
    load_local_env()
    if args.verb == "up":
        stack.up(write_env=True)
    elif args.verb == "down":
        stack.down()
    elif args.verb == "destroy":
        stack.down()
        if get_settings().manages_postgres:
            postgres.destroy()
        if get_settings().manages_s3:
            seaweedfs.destroy()
    elif args.verb == "demo":
        demo(args.months)
    elif args.verb == "demo-market":
        demo_market_verb()
    elif args.verb == "airflow":
        airflow_up(args.executor, args.workers, args.concurrency)
    elif args.verb == "bench":
        from ibdc_dev.bench import incremental as bench_incremental
        from ibdc_dev.bench import load as bench
        from ibdc_dev.bench import scale as bench_scale

        parts = args.only or ["load", "oee", "scale", "orchestration", "national"]
        stack.up(say=lambda m: None)
        # The demo's Airflow (make demo, make airflow) polls its scheduler ten times a second: its CPU
        # would be counted in every figure below.
        if any(processes.read_pid(f"airflow-{service}") for service in local_airflow.SERVICES):
            say("stopping the local Airflow (make demo / make airflow) for the benchmarks; make airflow restarts it")
            local_airflow.stop_services()
        if "load" in parts:
            bench.report(bench.run(args.rows, args.rounds, say=say), say=say)
        if "oee" in parts:
            results = bench_incremental.run(args.oee_devices, args.oee_history, args.rounds, say=say)
            bench_incremental.report(results, say=say)
        if "scale" in parts:
            measured = bench_scale.run(args.scale_sizes, args.rounds, say=say, styles=args.scale_styles)
            bench_scale.report(measured, say=say)
        if "orchestration" in parts:
            from ibdc_dev.bench import orchestration as bench_orchestration

            months = args.orchestration_months or bench_orchestration.YEAR
            bench_orchestration.report(bench_orchestration.run(months, args.rounds, say=say), say=say)
        if "national" in parts:
            from ibdc_dev.bench import national as bench_national

            results = bench_national.run(
                args.national_devices, args.rounds, args.national_provinces, args.national_workers, say=say
            )
            bench_national.report(results, say=say)
    elif args.verb == "docs":
        serve_docs(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
