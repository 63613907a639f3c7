"""``make bench`` (second part): what one new day of telemetry costs the OEE marts, against the
length of the history already built.

Issue 5 asks that the equipment OEE marts be built incrementally "so one new day costs the same
whatever the length of history". This measures it, in one process, on the bench database:
(a) ``history`` days of telemetry (``devices`` x 24 rows a day, the simulator's generator for one
    province-day, repeated day after day) are in ``raw.equipment_telemetry`` and the marts are built
    over them; then one more day is loaded and the two OEE marts are run the way the transform DAG
    runs them after that load (var ``ibdc_loaded_periods`` = that day), ``rounds`` times;
(b) the same with ``4 x history`` days.
The ratio is (b)'s median over (a)'s, from dbt's own execution time of the two models (dbt's start-up
is not part of a model's cost). A full rebuild at each length is reported beside it: it does grow
with the history, which shows the measurement can tell the difference.
"""

from __future__ import annotations

import io
import json
import statistics
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pyarrow.csv as pacsv

from ibdc import governance
from ibdc.loading.postgres import ensure_schema
from ibdc.settings import LOCAL_DIR, get_settings
from ibdc.transform.dbt import run_dbt
from ibdc_dev.simulator.telemetry import telemetry_table

PROVINCE = "410000"
FIRST_DAY = date(2025, 1, 1)
MODELS = ("mart_equipment_oee_enterprise_daily", "mart_equipment_oee_province_daily")
TARGET_PATH = LOCAL_DIR / "bench" / "dbt-target"  # never the project's target/ (the DAG's manifest)
SOURCE_COLUMNS = "device_id, enterprise_code, ts, runtime_min, output_units, energy_kwh, fault_code"


def _day(i: int) -> date:
    return FIRST_DAY + timedelta(days=i)


def _dbt(verb: str, *args: str, loaded_days: list[date] | None = None) -> dict[str, float]:
    """One dbt command on the bench database; each node's execution time in seconds."""
    argv = [verb, *args, "--target-path", str(TARGET_PATH), "--quiet"]
    if loaded_days is not None:
        loaded = {"equipment_telemetry": [d.isoformat() for d in loaded_days]}
        argv += ["--vars", json.dumps({"ibdc_loaded_periods": json.dumps(loaded)})]
    return {r.node.name: r.execution_time for r in run_dbt(*argv).results}


def _load_first_day(conn: psycopg.Connection, devices: int) -> int:
    """The simulator's province-day of telemetry, COPYed into the empty raw table as day 0."""
    table = telemetry_table(get_settings().simulator_seed, PROVINCE, FIRST_DAY, devices)
    csv = io.BytesIO()
    pacsv.write_csv(table.select(SOURCE_COLUMNS.split(", ")), csv)
    conn.execute("TRUNCATE raw.equipment_telemetry")
    conn.execute(
        "SELECT set_config('ibdc.province_code', %s, false), set_config('ibdc.period', %s, false),"
        " set_config('ibdc.batch_id', gen_random_uuid()::text, false),"
        " set_config('ibdc.source_object', 'bench', false), set_config('ibdc.source_version_id', '', false)",
        (PROVINCE, FIRST_DAY.isoformat()),
    )
    with conn.cursor().copy(f"COPY raw.equipment_telemetry ({SOURCE_COLUMNS}) FROM STDIN (FORMAT csv, HEADER)") as cp:
        cp.write(csv.getvalue())
    return table.num_rows


def _add_days(conn: psycopg.Connection, days: range) -> None:
    """Day 0's rows again for each of ``days``, shifted to that day (timestamps too)."""
    for i in days:
        conn.execute(
            "INSERT INTO raw.equipment_telemetry SELECT province_code, period_day + %(i)s, device_id,"
            " enterprise_code, ts + make_interval(days => %(i)s), runtime_min, output_units, energy_kwh,"
            " fault_code, batch_id, source_object, source_version_id, loaded_at"
            " FROM raw.equipment_telemetry WHERE period_day = %(first)s",
            {"i": i, "first": FIRST_DAY},
        )
    conn.execute("ANALYZE raw.equipment_telemetry")


def _new_day_cost(conn: psycopg.Connection, history: int, rounds: int, say) -> tuple[list[float], float]:
    """With days 0..history-1 in raw and in the marts: load day ``history`` and run the OEE marts for
    it ``rounds`` times (delete+insert: every round rebuilds the same day). Returns the seconds per
    round and the seconds of the full rebuild that brought the marts up to ``history`` days."""
    full = sum(_dbt("run", "--select", *MODELS).values())
    _add_days(conn, range(history, history + 1))
    costs = [sum(_dbt("run", "--select", *MODELS, loaded_days=[_day(history)]).values()) for _ in range(rounds)]
    say(f"history {history:>4} days: full rebuild {full:6.2f}s; one new day " + ", ".join(f"{c:.2f}s" for c in costs))
    return costs, full


def run(devices: int, history: int, rounds: int, say=print) -> dict[str, float]:
    settings = get_settings()
    Path(TARGET_PATH).mkdir(parents=True, exist_ok=True)
    with psycopg.connect(settings.warehouse, autocommit=True) as conn:
        ensure_schema(conn)
        per_day = _load_first_day(conn, devices)
        _add_days(conn, range(1, history))
        say(f"OEE marts: {per_day:,} telemetry rows a day, history {history} then {4 * history} days")
        # Seeds (the marts' governance reads the provinces seed, which no model of theirs refs), the
        # (empty) enterprise snapshot and every parent of the OEE marts, from scratch.
        select = ("resource_type:seed", f"+{MODELS[1]}")
        _dbt("build", "--select", *select, "--exclude-resource-type", "test", "unit_test", "--full-refresh")
        short, full_short = _new_day_cost(conn, history, rounds, say)
        _add_days(conn, range(history + 1, 4 * history))
        long, full_long = _new_day_cost(conn, 4 * history, rounds, say)
    # The transformer's mart: read through the administrator's reader, never as the administrator.
    with governance.reader_connection(settings.warehouse) as reader:
        built = reader.execute(
            "SELECT count(DISTINCT period_day) FROM marts.mart_equipment_oee_enterprise_daily"
        ).fetchone()[0]
    if built != 4 * history + 1:
        raise SystemExit(f"the OEE mart holds {built} days; expected {4 * history + 1}")
    return {
        "new_day_4x_history_vs_1x": statistics.median(long) / statistics.median(short),
        "full_rebuild_4x_history_vs_1x": full_long / full_short,
    }


def report(results: dict[str, float], say=print) -> None:
    for name, value in results.items():
        say(f"oee_{name}: {value:.2f}")
