"""``ibdc``: the verbs behind the Makefile (up, down, demo, airflow, docs, dbt-parse)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime

import psycopg

from ibdc.localstack import airflow as local_airflow
from ibdc.localstack import postgres, stack
from ibdc.localstack.env import USER_ENV_FILE, load_local_env
from ibdc.localstack.processes import LOG_DIR
from ibdc.periods import last_complete_months, parse_period
from ibdc.reference import provinces
from ibdc.settings import Settings, get_settings
from ibdc.transform.dbt import run_dbt

EXTRACT_DAG = "ibdc_extract_industrial_output"
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


def _run_after(period: str) -> str:
    """The logical date whose inferred monthly data interval is ``period``."""
    y, m = parse_period(period)
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return f"{y:04d}-{m:02d}-01T00:00:00+00:00"


def demo(months: int) -> None:
    window = last_complete_months(datetime.now(UTC).date(), months)
    steps = Step(4 + len(window))
    with steps("starting local services"):
        settings = stack.up(say=lambda m: say("      " + m))
    with steps("dbt parse and Airflow metadata migration (first run: about a minute)"):
        prepare_airflow(settings)
    for period in window:
        with steps(f"Airflow run of {EXTRACT_DAG} for {period}: 31 provinces, extract -> raw zone -> load"):
            local_airflow.run(
                settings,
                "dags",
                "test",
                EXTRACT_DAG,
                _run_after(period),
                log=LOG_DIR / f"demo-{EXTRACT_DAG}-{period}.log",
            )
    with steps(f"Airflow run of {TRANSFORM_DAG}: dbt seeds, staging, mart, tests, docs"):
        local_airflow.run(settings, "dags", "test", TRANSFORM_DAG, log=LOG_DIR / f"demo-{TRANSFORM_DAG}.log")
    with steps("summary"):
        summary(settings, window)
    say(f"\nDone in {steps.elapsed():.0f}s. Window: {window[0]} .. {window[-1]}.")
    say(f"""
Where to look next:
  Airflow UI     make airflow   then {settings.airflow_url}
                 login: {local_airflow.ADMIN_USER} / {settings.airflow_admin_password}
  dbt docs       make docs      (standalone), or "dbt docs" in the Airflow UI's Browse menu
  warehouse      psql "$IBDC_WAREHOUSE_DSN"  after: set -a; . {USER_ENV_FILE}; set +a
  logs           {LOG_DIR}/
""")


def summary(settings: Settings, window: list[str]) -> None:
    firsts = [date(*parse_period(p), 1) for p in window]
    with psycopg.connect(settings.warehouse) as conn:
        loaded = dict(
            conn.execute(
                "SELECT province_code, count(*) FROM raw.industrial_output WHERE period_month = ANY(%s) GROUP BY 1",
                (firsts,),
            ).fetchall()
        )
        quarantined = dict(
            conn.execute(
                "SELECT province_code, count(*) FROM raw.quarantine WHERE dataset = 'industrial_output'"
                " AND period = ANY(%s) GROUP BY 1",
                (window,),
            ).fetchall()
        )
        mart_rows = conn.execute(
            "SELECT count(*) FROM marts.mart_industrial_output_monthly WHERE period_month = ANY(%s)", (firsts,)
        ).fetchone()[0]
    say("      province                     rows loaded  quarantined")
    for code, prov in provinces().items():
        say(f"      {code} {prov.name_en:<22} {loaded.get(code, 0):>11}  {quarantined.get(code, 0):>11}")
    say(f"      {'total':<29} {sum(loaded.values()):>11}  {sum(quarantined.values()):>11}")
    say(f"      mart rows (marts.mart_industrial_output_monthly, window): {mart_rows}")
    if not mart_rows or mart_rows != sum(loaded.values()):
        raise SystemExit("the mart does not hold every loaded row: see the logs above")


def airflow_up() -> None:
    settings = stack.up(say=lambda m: say("  " + m))
    prepare_airflow(settings)
    local_airflow.start_services(settings, say=lambda m: say("  " + m))
    say(
        f"\nAirflow UI: {settings.airflow_url}  login: {local_airflow.ADMIN_USER} / "
        f"{settings.airflow_admin_password}\nStop everything with: make down"
    )


def serve_docs(port: int) -> None:
    """The same docs the Airflow plugin serves: the copy published in the docs bucket."""
    import uvicorn

    from ibdc.transform import docs

    stack.up(say=lambda m: None)
    if not docs.published():
        say("no dbt docs published yet: generating and publishing them ...")
        docs.generate_and_publish()
    say(f"dbt docs on http://127.0.0.1:{port}/  (Ctrl-C to stop)")
    uvicorn.run(docs.docs_app, host="127.0.0.1", port=port, log_level="warning")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ibdc", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("up", help="start the local services (idempotent)")
    sub.add_parser("down", help="stop the local services (idempotent)")
    sub.add_parser("destroy", help="stop the local services and delete the local cluster's data")
    p_demo = sub.add_parser("demo", help="run the platform's main job through Airflow on local defaults")
    p_demo.add_argument("--months", type=int, default=3, help="complete months to collect (default 3)")
    sub.add_parser("airflow", help="start the Airflow UI and its services on the local metadata")
    sub.add_parser("dbt-parse", help="write the dbt manifest the transform DAG is rendered from")
    p_bench = sub.add_parser("bench", help="load benchmark: platform vs psql \\copy vs dlt")
    p_bench.add_argument("--rows", type=int, default=2_000_000)
    p_bench.add_argument("--rounds", type=int, default=3)
    p_docs = sub.add_parser("docs", help="serve the dbt docs on a local port")
    p_docs.add_argument("--port", type=int, default=58081)
    args = parser.parse_args(argv)

    if args.verb == "bench":  # its own database and bucket, never the demo's
        os.environ.update(IBDC_WAREHOUSE_DB="ibdc_bench", IBDC_RAW_BUCKET="ibdc-raw-bench")
    load_local_env()
    if args.verb == "up":
        stack.up()
    elif args.verb == "down":
        stack.down()
    elif args.verb == "destroy":
        stack.down()
        if get_settings().manages_postgres:
            postgres.destroy()
    elif args.verb == "demo":
        demo(args.months)
    elif args.verb == "airflow":
        airflow_up()
    elif args.verb == "dbt-parse":
        get_settings()
        run_dbt("parse", "--quiet")
    elif args.verb == "bench":
        from ibdc import bench

        stack.up(say=lambda m: None, write_env=False)
        bench.report(bench.run(args.rows, args.rounds, say=say), say=say)
    elif args.verb == "docs":
        serve_docs(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
