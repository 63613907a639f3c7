"""``make bench``: the platform's partition load against ``psql \\copy`` and dlt, on the same rows.

Telemetry rows (default 2 million) are generated and staged in the object store as one raw partition,
as a ``csv_download`` portal serves them (Henan: GB18030, Chinese headers with units, Beijing local
times, missing-value marks, a 合计 row; see :mod:`ibdc.formats.csv_download`). Each round then
measures, in this one process and against identical target tables:
(a) the platform: raw zone -> checksum -> decode (GB18030, 合计 checked and dropped, times to UTC) ->
    Arrow validation -> COPY, one transaction;
(b) ``psql \\copy`` of the same rows from a local plain UTF-8 CSV file (canonical values), the lineage
    columns from constant defaults (the target's baseline), and again of the full rows, the lineage's
    values in the file (the rows as the raw table stores them: what the lineage costs a CSV COPY;
    ``load_vs_psql_copy_full_rows``, no target);
(c) dlt's PostgreSQL destination loading the same rows from that file.
The ratios are the platform's rows/s over the other's.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
import uuid
from datetime import date
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from ibdc.datasets import DATASETS, PARTITION_COLUMNS
from ibdc.datasets import LINEAGE_COLUMNS as LINEAGE_COLUMNS_OF
from ibdc.formats import csv_download
from ibdc.landing import raw_zone
from ibdc.loading.postgres import _with_lineage, ensure_schema, page_lineage
from ibdc.parsing.base import PageRows
from ibdc.schemas import EQUIPMENT_TELEMETRY
from ibdc.settings import LOCAL_DIR, get_settings
from ibdc.sources.adapters.base import Extraction, RawPage
from ibdc.sources.registry import ApiStyle, load_registry
from ibdc_dev.localstack import postgres
from ibdc_dev.simulator.service import portals
from ibdc_dev.simulator.telemetry import telemetry_table

DATASET = "equipment_telemetry"
TELEMETRY = DATASETS[DATASET]
PROVINCE = "410000"  # Henan: a csv_download portal, GB18030
DAY = "2026-10-01"
BENCH_DIR = LOCAL_DIR / "bench"
ROWS_PER_PAGE = 500_000
SOURCE_COLUMNS = "device_id, enterprise_code, ts, runtime_min, output_units, energy_kwh, fault_code"
# The lineage the platform's load sends with every row (ibdc.loading.postgres._with_lineage): the
# partition's, then the dataset's lineage columns but the load time (the column default, now()).
LINEAGE_COLUMNS = ", ".join(
    (
        *PARTITION_COLUMNS,
        TELEMETRY.calendar.period_column,
        *(c for c in LINEAGE_COLUMNS_OF[TELEMETRY.lineage] if c != "loaded_at"),
    )
)
FULL_ROW_COLUMNS = f"{SOURCE_COLUMNS}, {LINEAGE_COLUMNS}"


def stage_telemetry(
    province: str, day: str, devices: int, malformed_every: int | None = None, rows_per_page: int = ROWS_PER_PAGE
) -> tuple[dict, pa.Table]:
    """Generate a province-day of telemetry and commit it to the raw zone as a ``csv_download`` portal
    serves it: files of ``rows_per_page`` records (each with its header and 合计 row) in the portal's
    encoding. Returns the manifest and the rows as canonical text."""
    seed = get_settings().simulator_seed
    table = telemetry_table(seed, province, date.fromisoformat(day), devices, malformed_every)
    table = table.select(list(EQUIPMENT_TELEMETRY.names))
    source = load_registry()[province]
    if source.style is not ApiStyle.CSV_DOWNLOAD:
        raise ValueError(f"{province} publishes through {source.style}, not csv_download files")
    encoding = portals()[province]["encoding"]
    pages = []
    for offset in range(0, max(table.num_rows, 1), rows_per_page):
        rows = table.slice(offset, rows_per_page)
        body = csv_download.encode(EQUIPMENT_TELEMETRY, rows, encoding)
        request = {"generated": "bench", "page": len(pages)}
        pages.append(RawPage(body, f"text/csv; charset={encoding}", request, rows.num_rows))
    extraction = Extraction(source, DATASET, day, pages, records_claimed=table.num_rows)
    return raw_zone.write_partition(extraction), table


def identical_target(conn: psycopg.Connection, schema: str, province: str = PROVINCE, day: str = DAY) -> str:
    """A table identical to raw.equipment_telemetry (columns, types, key, checks; partitioned by day
    as it is, the day's partition made), its lineage columns defaulted (the partition: ``province``,
    ``day``), for the loaders that only send the source columns; created anew (empty) in ``schema``.
    Returns its qualified name."""
    table = f"{schema}.equipment_telemetry"
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    partitioned = conn.execute("SELECT relkind = 'p' FROM pg_class WHERE oid = 'raw.equipment_telemetry'::regclass")
    if partitioned.fetchone()[0]:
        conn.execute(
            f"CREATE TABLE {table} (LIKE raw.equipment_telemetry INCLUDING ALL) PARTITION BY RANGE (period_day)"
        )
        conn.execute(f"CREATE TABLE {table}_day PARTITION OF {table} FOR VALUES FROM ('{day}') TO (date '{day}' + 1)")
    else:
        conn.execute(f"CREATE TABLE {table} (LIKE raw.equipment_telemetry INCLUDING ALL)")
    conn.execute(f"""ALTER TABLE {table}
        ALTER province_code SET DEFAULT '{province}', ALTER period_day SET DEFAULT '{day}',
        ALTER batch_id SET DEFAULT '{uuid.uuid4()}'::uuid, ALTER source_page SET DEFAULT 1""")
    return table


def with_lineage(rows: pa.Table, manifest, csv_file: Path) -> Path:
    """``rows`` (the partition's source columns, in the order served) written to ``csv_file`` with
    the lineage the platform's load sends beside them: the partition's province and day, one batch
    id, and each row's page (its number in the ``manifest``'s objects, read from their record counts,
    as the load numbers them: :func:`ibdc.loading.postgres.page_lineage`): the complete rows as the
    raw table stores them (:data:`FULL_ROW_COLUMNS`), their lineage added by the load's own
    :func:`ibdc.loading.postgres._with_lineage`."""
    listed = sum(obj.records for obj in manifest.objects)
    if listed != rows.num_rows:
        raise ValueError(f"the manifest lists {listed} records, the rows are {rows.num_rows}")
    source = rows.select(SOURCE_COLUMNS.split(", "))
    partition = {"province_code": manifest.province_code, "period_day": manifest.period, "batch_id": str(uuid.uuid4())}
    pages, start = [], 0
    for number, obj in enumerate(manifest.objects, 1):
        page = PageRows(obj.key, obj.version_id, source.slice(start, obj.records))
        pages.append(_with_lineage(page.rows, partition | page_lineage(TELEMETRY, page, number)))
        start += obj.records
    pacsv.write_csv(pa.concat_tables(pages), csv_file)
    return csv_file


def psql_copy(dsn: str, csv_file: Path, table: str, columns: str = SOURCE_COLUMNS) -> float:
    """Seconds ``psql \\copy`` takes to load ``csv_file`` (UTF-8 CSV with a header row, ``columns``:
    the :data:`SOURCE_COLUMNS` by default, or :data:`FULL_ROW_COLUMNS` from :func:`with_lineage`;
    canonical values) into ``table``: the psql client of the server's own version, in a process of its
    own, start-up included."""
    psql = str(postgres.client("psql"))  # the wheel's, the server's own version
    command = f"\\copy {table} ({columns}) FROM '{csv_file}' WITH (FORMAT csv, HEADER true)"
    return _time(
        lambda: subprocess.run(
            [psql, dsn, "-q", "-v", "ON_ERROR_STOP=1", "-c", command], check=True, stdin=subprocess.DEVNULL
        )
    )


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(rows: int, rounds: int, say=print) -> dict[str, list[float]]:
    from ibdc.pipeline import load_partition_from_raw

    settings = get_settings()
    devices = max(1, rows // 24)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    say(
        f"staging {devices * 24:,} telemetry rows in s3://{settings.raw_bucket}/{DATASET}/province={PROVINCE}/"
        f"period={DAY}/ ..."
    )
    manifest, rows = stage_telemetry(PROVINCE, DAY, devices)
    n = manifest.records_received
    csv_file = BENCH_DIR / "telemetry.csv"
    pacsv.write_csv(rows, csv_file)  # the baselines' input: the same rows, plain UTF-8, canonical values
    full_rows = with_lineage(rows, manifest, BENCH_DIR / "telemetry-full-rows.csv")
    say(
        f"staged {n:,} rows, {manifest.bytes / 1e6:.0f} MB of {manifest.objects[0].content_type} in "
        f"{len(manifest.objects)} objects; local UTF-8 CSV {csv_file} ({csv_file.stat().st_size / 1e6:.0f} MB)"
    )

    dlt_dir = BENCH_DIR / "dlt"
    results: dict[str, list[float]] = {"platform": [], "psql_copy": [], "psql_copy_full_rows": [], "dlt": []}
    for r in range(1, rounds + 1):
        with psycopg.connect(settings.warehouse, autocommit=True) as conn:
            ensure_schema(conn)
            conn.execute("TRUNCATE raw.equipment_telemetry")  # every round loads into an empty table
        # accepted: a bench of fewer rows after a larger one on the same warehouse is no broken source
        t_platform = _time(lambda: load_partition_from_raw(DATASET, PROVINCE, DAY, accept_fewer_records=True))
        with psycopg.connect(settings.warehouse, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE raw.equipment_telemetry")
            target = identical_target(conn, "bench_psql")
        t_psql = psql_copy(settings.warehouse, csv_file, target)
        with psycopg.connect(settings.warehouse, autocommit=True) as conn:
            full_target = identical_target(conn, "bench_psql_full")
        t_full = psql_copy(settings.warehouse, full_rows, full_target, FULL_ROW_COLUMNS)
        with psycopg.connect(settings.warehouse, autocommit=True) as conn:
            identical_target(conn, "bench_dlt")
        shutil.rmtree(dlt_dir, ignore_errors=True)  # no state (or pending packages) from an earlier round
        t_dlt = _time(lambda: _dlt_load(settings.warehouse, csv_file, dlt_dir))
        timed = (("platform", t_platform), ("psql_copy", t_psql), ("psql_copy_full_rows", t_full), ("dlt", t_dlt))
        for name, t in timed:
            results[name].append(n / t)
        say(
            f"round {r}: platform {n / t_platform:,.0f} rows/s ({t_platform:.1f}s)  psql \\copy "
            f"{n / t_psql:,.0f} rows/s ({t_psql:.1f}s), of the full rows {n / t_full:,.0f} rows/s ({t_full:.1f}s)"
            f"  dlt {n / t_dlt:,.0f} rows/s ({t_dlt:.1f}s)"
        )
    with psycopg.connect(settings.warehouse) as conn:
        counts = [
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in (
                "raw.equipment_telemetry",
                "bench_psql.equipment_telemetry",
                "bench_psql_full.equipment_telemetry",
                "bench_dlt.equipment_telemetry",
            )
        ]
    if counts != [n] * 4:
        raise SystemExit(f"row counts differ: platform, psql, psql full rows, dlt = {counts}; expected {n}")
    return results


def _dlt_load(dsn: str, csv_file: Path, pipelines_dir: Path) -> None:
    import dlt
    import pyarrow.csv as pacsv

    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    # dlt looks up its config in Airflow Variables whenever Airflow is importable; here that is a
    # metadata-database round trip per config key, measured against dlt. It is not a dlt cost: off.
    os.environ["PROVIDERS__ENABLE_AIRFLOW_SECRETS"] = "false"
    table = pacsv.read_csv(csv_file)
    pipeline = dlt.pipeline(
        pipeline_name="ibdc_bench",
        destination=dlt.destinations.postgres(dsn),
        dataset_name="bench_dlt",
        pipelines_dir=str(pipelines_dir),
    )
    # Appends into the pre-created identical table (emptied before each round); csv = dlt's COPY path.
    pipeline.run(table, table_name="equipment_telemetry", write_disposition="append", loader_file_format="csv")


def report(results: dict[str, list[float]], say=print) -> None:
    def ratios(other: str) -> list[float]:
        return [p / o for p, o in zip(results["platform"], results[other], strict=True)]

    for name, values in results.items():
        say(
            f"{name + '_rows_per_s:':<32}{statistics.median(values):>12,.0f}   (rounds: "
            + ", ".join(f"{v:,.0f}" for v in values)
            + ")"
        )
    # The target's ratio is over psql copying the source columns (lineage from constant defaults); over
    # psql copying the full rows (the lineage's values in its CSV, as the raw table stores them), no target.
    for other, label in (
        ("psql_copy", "load_vs_psql_copy"),
        ("psql_copy_full_rows", "load_vs_psql_copy_full_rows"),
        ("dlt", "load_vs_dlt"),
    ):
        rs = ratios(other)
        say(f"{label}: {statistics.median(rs):.2f}" + ("  (no target)" if other == "psql_copy_full_rows" else ""))
        say(f"  {label} per round: {', '.join(f'{x:.2f}' for x in rs)} (spread {min(rs):.2f}..{max(rs):.2f})")
