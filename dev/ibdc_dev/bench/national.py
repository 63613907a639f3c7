"""``make bench`` (part ``national``): a national telemetry day, from the sources to the OEE marts.

Issue 20: 31 provinces x ``devices`` x 24 readings of one day (default 10,000 devices: 240,000
readings a province-day, 7.44 million in all) go the platform's whole way, and the wall time is
held against a target of 300 s (``national_day_wall_s``). Each round:

(a) untimed set-up, so that every round starts from the same state: a fresh warehouse of the part's
    own (``ibdc_bench_national``, provisioned as ``ibdc-dev up`` provisions one; dropped and created
    again every round) and an emptied raw bucket (``ibdc-raw-bench-national``), the project built
    on it once without its tests (seeds, the enterprise snapshot, every model: the marts exist,
    empty, as on a platform that has built before), and a simulator of its own (a free port,
    ``IBDC_SIMULATOR_TELEMETRY_DEVICES`` = ``devices``, fault profile ``none``; started afresh each
    round, so its page cache starts empty too);
(b) extract and load, timed: every province's partition of the day by the pipeline functions, as
    the extract DAG's task does it (``ibdc.pipeline.extract_partition`` over HTTP into the raw
    zone, then ``ibdc.pipeline.load_extracted``: ``load_partition_from_raw`` into PostgreSQL), one
    partition per task, ``workers`` tasks at a time in worker processes (started and warmed before
    the clock starts, as the executor's are);
(c) transform, timed: the ``dbt build`` the transform DAG's producer runs (cosmos watcher mode: the
    dbt CLI in a subprocess, the whole project, ``--indirect-selection buildable``) with the var it
    hands dbt for that day, ``ibdc_loaded_periods`` = ``{"equipment_telemetry": [day]}`` as JSON
    text (:func:`ibdc.transform.changes.periods_by_dataset` of the loads, what the DAG's ``loaded``
    task returns once a build has been recorded): the incremental models rebuild that day, the
    other datasets' incremental models nothing, every test runs; its own target path;
(d) the check, untimed: per province, the rows loaded equal the readings served (``devices`` x 24,
    nothing quarantined) and the rows in ``raw.equipment_telemetry`` for the day; the enterprise
    mart holds one row per enterprise reporting that day and the devices they report; the province
    mart the same enterprises and devices; no province missing, none extra. SystemExit otherwise.
    Then every version in the raw bucket is deleted (the object store does not grow by rounds).

The split: the extract+load phase runs both steps in each task (several tasks at once), so its wall
time is shared between extract and load in proportion to the seconds the tasks spent in each
(:func:`split_phase`); the transform is its own wall time. Both are printed with the tasks' own
seconds and the cores the machine kept busy (``/proc/stat``).

Why 3 workers by default: the extract DAG's tasks run up to 6 at once on the local stack's
LocalExecutor (``AIRFLOW__CORE__PARALLELISM``), but on 2 cores the work shares them with the
simulator (one process serving every page) and PostgreSQL (the COPYs); 3 tasks at once keep both
cores busy (one task waits on HTTP or a COPY while another decodes) without the contention of 6:
at 10 provinces x 24,000 readings, on the shared machine, extract+load took 9 s with 3 at a time,
14 s with 2, 16 s with 4 and 12 s with 6. ``--national-workers`` sets it.

    .venv/bin/ibdc-dev bench --only national [--national-devices 10000] [--national-provinces 31]
        [--national-workers 3] [--rounds 3]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg

from ibdc import governance
from ibdc.landing.manifest import Partition
from ibdc.settings import LOCAL_DIR, Settings
from ibdc.sources.registry import sources_for
from ibdc.transform import changes
from ibdc_dev.localstack import airflow_runs, seaweedfs, stack

DATASET = "equipment_telemetry"
DAY = "2026-10-01"
READINGS_PER_DEVICE = 24  # one reading an hour
RUN = "bench_national"  # warehouse ibdc_bench_national, raw bucket ibdc-raw-bench-national
DEFAULT_DEVICES = 10_000
DEFAULT_WORKERS = 3
TARGET_WALL_S = 300.0
NATIONAL_ROWS = 31 * DEFAULT_DEVICES * READINGS_PER_DEVICE  # the size the target is set for
MARTS = ("mart_equipment_oee_enterprise_daily", "mart_equipment_oee_province_daily")
TARGET_PATH = LOCAL_DIR / "bench" / "dbt-target-national"  # never the project's target/ (the DAG's manifest)
LOG = LOCAL_DIR / "logs" / "bench-national-dbt.log"


@dataclass(frozen=True)
class Task:
    """One partition's extract+load, as a worker did it."""

    province: str
    records: int  # extracted (the manifest's records received)
    rows_loaded: int
    rows_quarantined: int
    extract_s: float
    load_s: float


@dataclass
class Round:
    """One round's figures, seconds (busy core-seconds of the whole machine for ``core_s``)."""

    extract_load_s: float  # wall time of the extract+load phase
    transform_s: float  # wall time of the dbt build
    tasks: list[Task] = field(default_factory=list)
    core_s: float = 0.0

    @property
    def wall_s(self) -> float:
        return self.extract_load_s + self.transform_s

    @property
    def split(self) -> tuple[float, float, float]:
        """(extract, load, transform) seconds of the wall time (:func:`split_phase`)."""
        extract, load = split_phase(
            self.extract_load_s, sum(t.extract_s for t in self.tasks), sum(t.load_s for t in self.tasks)
        )
        return extract, load, self.transform_s

    @property
    def rows(self) -> int:
        return sum(t.rows_loaded for t in self.tasks)


# --- pure logic (tests/unit/test_bench_national.py) ------------------------------------------------


def split_phase(wall_s: float, extract_task_s: float, load_task_s: float) -> tuple[float, float]:
    """The wall time of a phase whose tasks each extract then load (several at once) shared between
    extract and load in proportion to the tasks' seconds in each; the two add up to ``wall_s``."""
    busy = extract_task_s + load_task_s
    if busy <= 0:
        return 0.0, 0.0
    extract = wall_s * extract_task_s / busy
    return extract, wall_s - extract


def pick_provinces(sources: dict[str, str], count: int | None) -> list[str]:
    """``count`` provinces of ``sources`` (province -> API style, in the registry's order), taking each
    style in turn so that a small run still reaches every style; all of them, in the registry's
    order, for ``None`` or a count of at least their number. ValueError for a count under 1."""
    if count is None or count >= len(sources):
        return list(sources)
    if count < 1:
        raise ValueError(f"at least one province: {count}")
    by_style: dict[str, list[str]] = {}
    for province, style in sources.items():
        by_style.setdefault(style, []).append(province)
    picked: list[str] = []
    rank = 0
    while len(picked) < count:
        for provinces in by_style.values():
            if rank < len(provinces) and len(picked) < count:
                picked.append(provinces[rank])
        rank += 1
    order = list(sources)
    return sorted(picked, key=order.index)


def dbt_vars(periods: dict[str, list[str]]) -> str:
    """The ``--vars`` the transform DAG's producer passes: ``ibdc_loaded_periods`` as JSON text (the
    DAG renders the ``loaded`` task's periods with ``tojson``)."""
    return json.dumps({"ibdc_loaded_periods": json.dumps(periods)})


@dataclass(frozen=True)
class Held:
    """Per province, what the warehouse holds for the day: rows, enterprises and devices reporting."""

    rows: int = 0
    enterprises: int = 0
    devices: int = 0


def problems(
    expected: Iterable[str],
    readings: int,
    tasks: list[Task],
    raw: dict[str, Held],
    enterprise_mart: dict[str, Held],
    province_mart: dict[str, Held],
) -> list[str]:
    """What is wrong with a round's result, one line each (nothing: the day is whole).

    Per province of ``expected``: the load took ``readings`` records, loaded them all and
    quarantined none; raw holds those rows; the enterprise mart's rows are the enterprises reporting
    in raw (``Held.rows`` there) with their devices; the province mart's rows add up to the same
    enterprises and devices. A province in a mart or raw that was not loaded is wrong too."""
    found: list[str] = []
    expected = list(expected)
    done = {t.province: t for t in tasks}
    for province in expected:
        task = done.get(province)
        if task is None:
            found.append(f"{province}: no load")
            continue
        if task.records != readings or task.rows_loaded != readings or task.rows_quarantined:
            found.append(
                f"{province}: {readings:,} readings served; {task.records:,} extracted, {task.rows_loaded:,}"
                f" loaded, {task.rows_quarantined:,} quarantined"
            )
        held = raw.get(province, Held())
        if held.rows != task.rows_loaded:
            found.append(f"{province}: {task.rows_loaded:,} rows loaded, raw holds {held.rows:,} for the day")
        if not held.enterprises or not held.devices:
            found.append(f"{province}: no enterprise or device reporting in raw")
        ent = enterprise_mart.get(province, Held())
        if (ent.rows, ent.devices) != (held.enterprises, held.devices):
            found.append(
                f"{province}: {MARTS[0]} has {ent.rows:,} enterprises / {ent.devices:,} devices;"
                f" raw {held.enterprises:,} / {held.devices:,}"
            )
        prov = province_mart.get(province, Held())
        if not prov.rows or (prov.enterprises, prov.devices) != (held.enterprises, held.devices):
            found.append(
                f"{province}: {MARTS[1]} has {prov.rows:,} rows, {prov.enterprises:,} enterprises /"
                f" {prov.devices:,} devices; raw {held.enterprises:,} / {held.devices:,}"
            )
    for name, held in (("raw", raw), (MARTS[0], enterprise_mart), (MARTS[1], province_mart)):
        extra = sorted(set(held) - set(expected))
        if extra:
            found.append(f"{name} holds the day for provinces not loaded: {', '.join(extra)}")
    return found


def spread(values: list[float], digits: int = 1) -> str:
    """``median (min-max)`` of ``values``."""
    median, low, high = (f"{v:.{digits}f}" for v in (statistics.median(values), min(values), max(values)))
    return f"{median} ({low}-{high})"


# --- the run ----------------------------------------------------------------------------------------


def _worker_env(run_env: dict[str, str], simulator_url: str) -> dict[str, str]:
    """What the worker processes get over this process's environment: the run's warehouse and
    bucket, the bench simulator's address, and every telemetry source's connection set to the
    simulator's credentials (as a deployment defines each source's: undefined, the lookup would try
    Airflow's secrets backends first, importing Airflow into the task)."""
    env = {**run_env, "IBDC_SIMULATOR_URL": simulator_url}
    credentials = os.environ.get("AIRFLOW_CONN_IBDC_SIMULATOR")
    if credentials:
        for source in sources_for(DATASET).values():
            if source.conn_id:
                env.setdefault(f"AIRFLOW_CONN_{source.conn_id.upper()}", credentials)
    return env


def _init_worker(env: dict[str, str]) -> None:
    os.environ.update(env)
    from ibdc_dev.localstack.env import load_local_env

    load_local_env()  # settings reloaded from the environment above
    import ibdc.pipeline  # noqa: F401  imported before the clock starts, as a preloaded executor has it


def _warm(_: int) -> None:
    time.sleep(0.5)  # each worker takes one: every one of them started and imported


def _extract_load(province: str) -> Task:
    """In a worker: what the extract DAG's task does for one partition, timed step by step."""
    from ibdc import pipeline

    t0 = time.perf_counter()
    extracted = pipeline.extract_partition(DATASET, province, DAY)
    t1 = time.perf_counter()
    if extracted["status"] != "extracted":
        raise RuntimeError(f"{province} {DAY}: nothing extracted: {extracted}")
    loaded = pipeline.load_extracted(extracted)
    t2 = time.perf_counter()
    return Task(province, extracted["records"], loaded["rows_loaded"], loaded["rows_quarantined"], t1 - t0, t2 - t1)


def _dbt(settings: Settings, *args: str) -> float:
    """Wall seconds of one dbt CLI command (a subprocess, as cosmos' producer runs it) on the run's
    warehouse, its own target path; RuntimeError with dbt's output when it fails (also in ``LOG``)."""
    from ibdc.transform.dbt import DBT_EXECUTABLE, DBT_PROJECT_DIR

    argv = [str(DBT_EXECUTABLE), *args, "--target-path", str(TARGET_PATH)]
    argv += ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    env = {**os.environ, **settings.dbt_env()}
    t0 = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
    seconds = time.monotonic() - t0
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as log:
        log.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}\n")
    if done.returncode:
        raise RuntimeError(f"dbt {args[0]} failed ({LOG}):\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return seconds


def _held(settings: Settings) -> tuple[dict[str, Held], dict[str, Held], dict[str, Held]]:
    """Per province, what raw and the two OEE marts hold for the day."""
    with psycopg.connect(settings.warehouse) as conn:
        raw = {
            p: Held(rows, enterprises, devices)
            for p, rows, enterprises, devices in conn.execute(
                "SELECT province_code, sum(n), count(DISTINCT enterprise_code), count(*) FROM ("
                " SELECT province_code, enterprise_code, device_id, count(*) AS n FROM raw.equipment_telemetry"
                " WHERE period_day = %s GROUP BY 1, 2, 3) AS d GROUP BY 1",
                (DAY,),
            )
        }
    # The transformer's marts: read through the administrator's reader, never as the administrator.
    with governance.reader_connection(settings.warehouse) as reader:
        enterprise = {
            p: Held(rows, rows, devices)
            for p, rows, devices in reader.execute(
                f"SELECT province_code, count(*), sum(devices_reporting) FROM marts.{MARTS[0]}"
                " WHERE period_day = %s GROUP BY 1",
                (DAY,),
            )
        }
        province = {
            p: Held(rows, enterprises, devices)
            for p, rows, enterprises, devices in reader.execute(
                f"SELECT province_code, count(*), sum(enterprises_reporting), sum(devices_reporting)"
                f" FROM marts.{MARTS[1]} WHERE period_day = %s GROUP BY 1",
                (DAY,),
            )
        }
    return raw, enterprise, province


def _fresh(settings: Settings) -> None:
    """(a): a fresh warehouse with the project built on it (no tests), an emptied raw bucket."""
    airflow_runs.fresh_data(settings, metadata=False)
    _dbt(settings, "build", "--exclude-resource-type", "test", "unit_test", "--vars", dbt_vars({}))


def run(
    devices: int = DEFAULT_DEVICES,
    rounds: int = 3,
    provinces: int | None = None,
    workers: int = DEFAULT_WORKERS,
    say=print,
) -> list[Round]:
    """``rounds`` rounds of a national day (see the module doc); SystemExit when a round's marts do
    not hold the day for every province loaded."""
    from ibdc_dev.bench.orchestration import busy_core_seconds
    from ibdc_dev.bench.scale import simulator

    base = stack.up(say=lambda m: None)
    settings, run_env = airflow_runs.run_settings(base, RUN)
    chosen = pick_provinces({p: str(s.style) for p, s in sources_for(DATASET).items()}, provinces)
    readings = devices * READINGS_PER_DEVICE
    TARGET_PATH.mkdir(parents=True, exist_ok=True)
    say(
        f"national: {len(chosen)} provinces x {readings:,} readings ({devices:,} devices) of {DAY},"
        f" {workers} partitions at a time; warehouse {settings.warehouse_db}, bucket {settings.raw_bucket}"
    )
    results: list[Round] = []
    try:
        for n in range(1, rounds + 1):
            _fresh(settings)
            with simulator(devices) as (url, _proc):
                ctx = multiprocessing.get_context("spawn")
                with ctx.Pool(workers, initializer=_init_worker, initargs=(_worker_env(run_env, url),)) as pool:
                    pool.map(_warm, range(workers), chunksize=1)
                    c0 = time.monotonic(), busy_core_seconds()
                    tasks = list(pool.imap_unordered(_extract_load, chosen, chunksize=1))
                    extract_load_s = time.monotonic() - c0[0]
            loaded = [Partition(dataset=DATASET, province_code=t.province, period=DAY) for t in tasks]
            transform_s = _dbt(
                settings,
                "build",
                "--indirect-selection",
                "buildable",
                "--vars",
                dbt_vars(changes.periods_by_dataset(loaded)),
            )
            core_s = busy_core_seconds() - c0[1]
            r = Round(extract_load_s, transform_s, tasks, core_s)
            results.append(r)
            extract, load, transform = r.split
            say(
                f"national round {n}: {r.rows:,} rows; wall {r.wall_s:.1f}s = extract {extract:.1f}s + load"
                f" {load:.1f}s + transform {transform:.1f}s (tasks' own seconds: extract"
                f" {sum(t.extract_s for t in tasks):.0f}, load {sum(t.load_s for t in tasks):.0f};"
                f" {core_s / r.wall_s:.2f} cores busy)"
            )
            found = problems(chosen, readings, tasks, *_held(settings))
            if found:
                raise SystemExit(f"national round {n}: the marts do not hold the day:\n  " + "\n  ".join(found))
            say(f"  checked: raw and both OEE marts hold {DAY} for the {len(chosen)} provinces, as loaded")
            airflow_runs.empty_bucket(seaweedfs.admin_client(settings), settings.raw_bucket)
    finally:
        mc = seaweedfs.admin_client(settings)
        for bucket in (settings.raw_bucket, settings.docs_bucket):
            airflow_runs.remove_bucket(mc, bucket)
    return results


def report(results: list[Round], say=print) -> None:
    """Wall time and its split, median (min-max) over the rounds; the wall time against the target."""
    if not results:
        return
    walls = [r.wall_s for r in results]
    parts = list(zip(*(r.split for r in results), strict=True))
    say(
        f"national day ({results[0].rows:,} rows, {len(results)} rounds), seconds, median (min-max):"
        f" wall {spread(walls)} = extract {spread(list(parts[0]))} + load {spread(list(parts[1]))}"
        f" + transform {spread(list(parts[2]))}"
    )
    rps = [r.rows / r.extract_load_s for r in results]
    say(f"national extract+load: {spread(rps, 0)} rows/s")
    wall = statistics.median(walls)
    met = "met" if wall < TARGET_WALL_S else "NOT met"
    full = NATIONAL_ROWS
    if results[0].rows != full:
        met += f" (the target is for {full:,} rows: 31 provinces x {DEFAULT_DEVICES * READINGS_PER_DEVICE:,})"
    rounds = ", ".join(f"{w:.1f}" for w in walls)
    say(f"national_day_wall_s: {wall:.1f} (rounds: {rounds}) target < {TARGET_WALL_S:.0f} s: {met}")
