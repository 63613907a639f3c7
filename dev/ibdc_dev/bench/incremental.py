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

Before it, what one new province-day costs the load itself (issue 20: raw telemetry partitioned by
day), ``telemetry_load_100d_vs_10d``: with 10 then 100 days of history in ``raw.equipment_telemetry``
(day 0 as above, copied to the other days by one server-side INSERT ... SELECT each), a new day of
the same size is loaded ``rounds`` times through the platform's loader (``load_partition`` as the
loader role: its partition made on demand, audit row, lock, DELETE, COPY of the Arrow rows, quarantine;
not the raw zone's decoding, which does not depend on the history), its partition dropped after each
round so that every round loads a new day. The figure is the median time at 100 days over the median
at 10; the spread is the per-round ratios' minimum and maximum.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pyarrow.csv as pacsv
from psycopg import sql

from ibdc import governance
from ibdc.datasets import DATASETS
from ibdc.landing.manifest import Partition
from ibdc.loading import retention
from ibdc.loading.postgres import day_partition, ensure_schema, load_partition
from ibdc.parsing.base import PageRows
from ibdc.settings import LOCAL_DIR, get_settings
from ibdc.transform.dbt import run_dbt
from ibdc_dev.simulator.telemetry import telemetry_table

PROVINCE = "410000"
FIRST_DAY = date(2025, 1, 1)
MODELS = ("mart_equipment_oee_enterprise_daily", "mart_equipment_oee_province_daily")
TARGET_PATH = LOCAL_DIR / "bench" / "dbt-target"  # never the project's target/ (the DAG's manifest)
SOURCE_COLUMNS = "device_id, enterprise_code, ts, runtime_min, output_units, energy_kwh, fault_code"
TELEMETRY = DATASETS["equipment_telemetry"]
LOAD_HISTORIES = (10, 100)  # days of history for telemetry_load_100d_vs_10d
NEW_DAY = max(LOAD_HISTORIES)  # the day loaded: after either history
HISTORY_SESSIONS = 2  # the bench machine's cores


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
    _drop_days(conn)
    day_partition(conn, TELEMETRY.table, FIRST_DAY)
    conn.execute(
        "SELECT set_config('ibdc.province_code', %s, false), set_config('ibdc.period', %s, false),"
        " set_config('ibdc.batch_id', gen_random_uuid()::text, false),"
        " set_config('ibdc.source_page', '1', false)",
        (PROVINCE, FIRST_DAY.isoformat()),
    )
    with conn.cursor().copy(f"COPY raw.equipment_telemetry ({SOURCE_COLUMNS}) FROM STDIN (FORMAT csv, HEADER)") as cp:
        cp.write(csv.getvalue())
    return table.num_rows


def _add_days(conn: psycopg.Connection, days: range) -> None:
    """Day 0's rows again for each of ``days``, shifted to that day (timestamps too): one server-side
    INSERT ... SELECT a day, ``HISTORY_SESSIONS`` sessions at once (100 days of 240,000 rows are 24
    million rows: their index entries, not the client, bound the time)."""

    def copy(share: range) -> None:
        with psycopg.connect(get_settings().warehouse, autocommit=True) as session:
            for i in share:
                day_partition(session, TELEMETRY.table, _day(i))
                session.execute(
                    "INSERT INTO raw.equipment_telemetry (province_code, period_day, device_id, enterprise_code, ts,"
                    " runtime_min, output_units, energy_kwh, fault_code, batch_id, source_page, loaded_at)"
                    " SELECT province_code, period_day + %(i)s, device_id,"
                    " enterprise_code, ts + make_interval(days => %(i)s), runtime_min, output_units, energy_kwh,"
                    " fault_code, batch_id, source_page, loaded_at"
                    " FROM raw.equipment_telemetry WHERE period_day = %(first)s",
                    {"i": i, "first": FIRST_DAY},
                )

    with ThreadPoolExecutor(HISTORY_SESSIONS) as pool:
        list(pool.map(copy, [days[k::HISTORY_SESSIONS] for k in range(HISTORY_SESSIONS)]))
    _settle(conn)


def _settle(conn: psycopg.Connection) -> None:
    """The history's new rows vacuumed and analysed, and their pages written out, before anything is
    timed: else autovacuum's passes over the new days' partitions and the checkpoint writing their
    pages would run during the measurements after a long history, not after a short one."""
    conn.execute("VACUUM (ANALYZE) raw.equipment_telemetry")
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege):  # an external warehouse's administrator may not
        conn.execute("CHECKPOINT")


def _drop_days(conn: psycopg.Connection) -> None:
    """raw.equipment_telemetry emptied, its day partitions dropped (emptied first: nothing to record)."""
    conn.execute("TRUNCATE raw.equipment_telemetry")
    retention.drop_telemetry_days_before(conn, date.max)


def _load_new_day(loader_dsn: str, page: PageRows, rounds: int) -> list[float]:
    """Seconds of loading ``page`` as the new day ``NEW_DAY`` through the platform's loader, ``rounds``
    times after one load not timed (the history's first: caches warmed as for the others); after each,
    the day's partition dropped (as the table's owner, not timed)."""
    day = _day(NEW_DAY).isoformat()
    key = Partition(dataset=TELEMETRY.name, province_code=PROVINCE, period=day).manifest_key
    times = []
    for _ in range(rounds + 1):
        t0 = time.perf_counter()
        load_partition(loader_dsn, TELEMETRY, PROVINCE, day, [page], key, None, 1.0, accept_fewer_records=True)
        times.append(time.perf_counter() - t0)
        with psycopg.connect(get_settings().warehouse, autocommit=True) as conn:
            partition = retention.telemetry_days(conn)[_day(NEW_DAY)]
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.SQL(partition)))  # regclass text: quoted
    return times[1:]


def _telemetry_load_cost(conn: psycopg.Connection, devices: int, rounds: int, say) -> dict[int, list[float]]:
    """Days of history (``LOAD_HISTORIES``) -> seconds of loading one new province-day, per round."""
    settings = get_settings()
    table = telemetry_table(settings.simulator_seed, PROVINCE, _day(NEW_DAY), devices)
    page = PageRows("bench/new-day.csv", None, table.select(SOURCE_COLUMNS.split(", ")))
    per_day = _load_first_day(conn, devices)
    costs, have = {}, 1
    for history in LOAD_HISTORIES:
        t0 = time.perf_counter()
        _add_days(conn, range(have, history))
        have = history
        made = time.perf_counter() - t0
        costs[history] = _load_new_day(settings.loader, page, rounds)
        say(
            f"telemetry load: history {history:>4} days ({per_day:,} rows a day, made in {made:.1f}s): one new"
            " province-day " + ", ".join(f"{c:.2f}s" for c in costs[history])
        )
    _drop_days(conn)
    return costs


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
        loads = _telemetry_load_cost(conn, devices, rounds, say)
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
    short_load, long_load = (loads[h] for h in LOAD_HISTORIES)
    return {
        "oee_new_day_4x_history_vs_1x": statistics.median(long) / statistics.median(short),
        "oee_new_day_4x_history_vs_1x per round": [b / a for a, b in zip(short, long, strict=True)],
        "oee_full_rebuild_4x_history_vs_1x": full_long / full_short,
        "telemetry_load_100d_vs_10d": statistics.median(long_load) / statistics.median(short_load),
        "telemetry_load_100d_vs_10d per round": [b / a for a, b in zip(short_load, long_load, strict=True)],
    }


def report(results: dict[str, float | list[float]], say=print) -> None:
    """The figures, ``name: ratio``; a figure's per-round ratios, when measured, on the next line with
    their spread (minimum..maximum)."""
    for name, value in results.items():
        if isinstance(value, list):
            say(f"  {name}: {', '.join(f'{x:.2f}' for x in value)} (spread {min(value):.2f}..{max(value):.2f})")
        else:
            say(f"{name}: {value:.2f}")
