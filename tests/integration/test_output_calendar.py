"""The NBS statistical calendar of industrial output, end to end against the simulator over HTTP, the
raw zone and PostgreSQL: since 2013 January and February are released together, so February carries
the January-February year to date without a current-month value. It loads with the value missing
(NULL) and nothing quarantined, in every style; the marts show the January-February figure for
February (months_covered 2) and the published current month for March; a published current month
that disagrees with the year-to-date figures beyond rounding warns and is kept. And the raw table of
a warehouse created before the current month could be missing upgrades in place (in a database of
its own)."""

import json
from decimal import Decimal

import psycopg
import pytest

from ibdc import pipeline
from ibdc.loading.postgres import ensure_schema
from ibdc.sources.registry import ApiStyle, sources_for
from ibdc.transform.dbt import run_dbt
from tests.integration.style_truth import check_partition
from tests.partitions import ANY

DATASET = "industrial_output"
FEBRUARY, MARCH = "2019-02", "2019-03"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(dataset=DATASET, provinces=ANY, periods=[FEBRUARY, MARCH]),  # one province per style
]
PROVINCE = "320000"  # Jiangsu: rest_json, makes every catalogue product, no fault in the default profile
FAULTY = {"450000", "620000", "440000"}  # the default fault profile's industrial output provinces
MARTS = "mart_industrial_output_monthly mart_energy_intensity_monthly"
CHECK = "assert_current_month_equals_cumulative_difference"
RECONCILIATIONS = "assert_output_mart_reconciles_with_raw assert_energy_intensity_reconciles_with_raw"


def _first(month: str) -> str:
    return f"{month}-01"


def _loaded_vars(*months: str) -> list[str]:
    return ["--vars", json.dumps({"ibdc_loaded_periods": json.dumps({DATASET: list(months)})})]  # as the DAG does


def _build(*months: str) -> None:
    """The marts (and what they read), as a transform run after loads of ``months`` builds them."""
    run_dbt(
        "build",
        "--select",
        " ".join(f"+{m}" for m in MARTS.split()),
        "--exclude-resource-type",
        "test",
        "unit_test",
        *_loaded_vars(*months),
        "--quiet",
    )


def _test(select: str, *months: str) -> dict[str, tuple[str, int]]:
    """Run dbt tests over the months a run built: test name -> (status, failures)."""
    results = run_dbt("test", "--select", select, *_loaded_vars(*months), "--quiet", check=False)
    return {r.node.name: (str(r.status), r.failures) for r in results if r.node.resource_type == "test"}


def _raw(conn, month: str) -> dict[str, tuple]:
    rows = conn.execute(
        "SELECT product_code, value_current_month, value_current_month_base, value_cumulative, value_cumulative_base"
        " FROM raw.industrial_output WHERE province_code = %s AND period_month = %s",
        (PROVINCE, _first(month)),
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def _mart(conn, month: str) -> dict[str, tuple]:
    rows = conn.execute(
        "SELECT product_code, output_value, output_value_base, output_value_published, output_ytd, months_covered"
        " FROM marts.mart_industrial_output_monthly WHERE province_code = %s AND period_month = %s",
        (PROVINCE, _first(month)),
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


@pytest.fixture(scope="module")
def february_and_march(services):
    """February and March of the province collected and loaded in order, and the marts built."""
    loads = {}
    for month in (FEBRUARY, MARCH):
        pipeline.extract_partition(DATASET, PROVINCE, month)
        loads[month] = pipeline.load_partition_from_raw(DATASET, PROVINCE, month)
    _build(FEBRUARY, MARCH)
    return loads


def test_february_loads_its_year_to_date_with_the_current_month_missing(february_and_march, truth, warehouse):
    expected = truth(PROVINCE, FEBRUARY)
    assert expected["malformed"] == [] and expected["expected"]
    assert all(e["current_month"] is None for e in expected["expected"])  # what the source serves
    load = february_and_march[FEBRUARY]
    assert load.rows_quarantined == 0 and load.rows_loaded == len(expected["expected"]) == 16
    quarantined = warehouse.execute(
        "SELECT count(*) FROM raw.quarantine WHERE dataset = %s AND province_code = %s AND period = %s",
        (DATASET, PROVINCE, FEBRUARY),
    ).fetchone()[0]
    assert quarantined == 0
    raw = _raw(warehouse, FEBRUARY)
    assert raw.keys() == {e["product_code"] for e in expected["expected"]}
    for e in expected["expected"]:
        current, current_base, ytd, ytd_base = raw[e["product_code"]]
        assert (current, current_base) == (None, None)
        assert ytd == Decimal(e["cumulative"]) and ytd_base > 0


def test_the_marts_show_the_january_february_figure_for_february_and_the_published_month_for_march(
    february_and_march, truth, warehouse
):
    february = {e["product_code"]: e for e in truth(PROVINCE, FEBRUARY)["expected"]}
    mart = _mart(warehouse, FEBRUARY)
    assert mart.keys() == february.keys()
    raw = _raw(warehouse, FEBRUARY)
    for code, e in february.items():
        ytd = Decimal(e["cumulative"])
        # The month's figure is the January-February year to date, covering two months.
        assert mart[code] == (ytd, raw[code][3], None, ytd, 2), code

    march = {e["product_code"]: e for e in truth(PROVINCE, MARCH)["expected"]}
    mart = _mart(warehouse, MARCH)
    assert mart.keys() == march.keys()
    raw = _raw(warehouse, MARCH)
    for code, e in march.items():
        current = Decimal(e["current_month"])
        assert mart[code] == (current, raw[code][1], current, Decimal(e["cumulative"]), 1), code
        assert current == Decimal(e["cumulative"]) - Decimal(february[code]["cumulative"])  # the simulator's months

    # Energy intensity's output side is the same figure in base units (crude steel for division 31).
    output_base = dict(
        warehouse.execute(
            "SELECT period_month::text, output_base FROM marts.mart_energy_intensity_monthly"
            " WHERE province_code = %s AND division_code = '31' AND period_month = ANY(%s::date[])",
            (PROVINCE, [_first(FEBRUARY), _first(MARCH)]),
        ).fetchall()
    )
    assert output_base == {
        _first(FEBRUARY): _raw(warehouse, FEBRUARY)["crude_steel"][3],
        _first(MARCH): _raw(warehouse, MARCH)["crude_steel"][1],
    }
    # The consistency check and the reconciliations with raw hold for the months built.
    results = _test(f"{CHECK} {RECONCILIATIONS}", FEBRUARY, MARCH)
    assert results == {name: ("pass", 0) for name in [CHECK, *RECONCILIATIONS.split()]}


def test_a_current_month_off_the_year_to_date_beyond_rounding_warns_and_the_published_value_is_kept(
    february_and_march, warehouse
):
    current, current_base, *_ = _raw(warehouse, MARCH)["crude_steel"]
    ulp = Decimal(1).scaleb(current.as_tuple().exponent)  # one unit in the last published place
    factor = current_base / current

    def publish(value: Decimal) -> None:
        warehouse.execute(
            "UPDATE raw.industrial_output SET value_current_month = %s, value_current_month_base = %s"
            " WHERE province_code = %s AND period_month = %s AND product_code = 'crude_steel'",
            (value, value * factor, PROVINCE, _first(MARCH)),
        )

    try:
        publish(current + ulp)  # within the rounding of the three published figures
        assert _test(CHECK, MARCH) == {CHECK: ("pass", 0)}
        published = current - 2 * ulp
        publish(published)  # beyond it: a warning, not a failure
        assert _test(CHECK, MARCH) == {CHECK: ("warn", 1)}
        _build(MARCH)
        assert _mart(warehouse, MARCH)["crude_steel"][:3] == (published, published * factor, published)
    finally:  # March as loaded again from the raw zone, and the marts rebuilt from it
        pipeline.load_partition_from_raw(DATASET, PROVINCE, MARCH)
        _build(MARCH)
    assert _mart(warehouse, MARCH)["crude_steel"][0] == current


def _february_sources() -> list[tuple[str, str]]:
    """(style, province): one province collecting industrial output in each style, without a default fault."""
    chosen: dict[str, str] = {}
    for code, source in sorted(sources_for(DATASET).items()):
        if code not in FAULTY:
            chosen.setdefault(str(source.style), code)
    assert chosen.keys() == {str(s) for s in ApiStyle}
    return sorted(chosen.items())


@pytest.mark.parametrize(("style", "province"), _february_sources(), ids=[s for s, _ in _february_sources()])
def test_every_style_loads_february_with_the_current_month_missing(style, province, services, truth, warehouse):
    expected = truth(province, FEBRUARY)
    assert expected["expected"] and all(e["current_month"] is None for e in expected["expected"])
    pipeline.extract_partition(DATASET, province, FEBRUARY)
    load = pipeline.load_partition_from_raw(DATASET, province, FEBRUARY)
    check_partition(warehouse, expected, load)  # as served, parsed and loaded: the truth, NULL included
    assert load.rows_quarantined == 0
    nulls = warehouse.execute(
        "SELECT count(*) FILTER (WHERE value_current_month IS NULL AND value_current_month_base IS NULL), count(*)"
        " FROM raw.industrial_output WHERE province_code = %s AND period_month = %s",
        (province, _first(FEBRUARY)),
    ).fetchone()
    assert nulls == (len(expected["expected"]),) * 2


# raw.industrial_output as created before the current month could be missing.
OLD_TABLE = """
CREATE SCHEMA raw;
CREATE TABLE raw.industrial_output (
    province_code text NOT NULL, period_month date NOT NULL, product_code text NOT NULL, unit_code text NOT NULL,
    value_current_month numeric NOT NULL CHECK (value_current_month >= 0),
    value_cumulative numeric NOT NULL CHECK (value_cumulative >= 0), base_unit text NOT NULL,
    value_current_month_base numeric NOT NULL, value_cumulative_base numeric NOT NULL,
    batch_id uuid NOT NULL, source_object text NOT NULL, source_version text, record_position integer NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (province_code, period_month, product_code)
);
INSERT INTO raw.industrial_output VALUES ('320000', '2016-03-01', 'crude_steel', '10k_tonnes', 100.5, 300.25,
    'tonne', 1005000.0, 3002500.0, gen_random_uuid(), 'k', NULL, 0, now());
"""
ROW = (
    "INSERT INTO raw.industrial_output (province_code, period_month, product_code, unit_code, value_current_month,"
    " value_cumulative, base_unit, value_current_month_base, value_cumulative_base, batch_id, source_object,"
    " record_position) VALUES ('320000', '2016-02-01', %s, '10k_tonnes', NULL, 199.75, 'tonne', %s, 1997500.0,"
    " gen_random_uuid(), 'k', 0)"
)


def test_the_raw_table_of_an_earlier_warehouse_upgrades_in_place(services):
    scratch = "ibdc_test_output_calendar_upgrade"
    with psycopg.connect(services.warehouse, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {scratch}")
        admin.execute(f"CREATE DATABASE {scratch}")
    dsn = psycopg.conninfo.make_conninfo(services.warehouse, dbname=scratch)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(OLD_TABLE)
            with pytest.raises(psycopg.errors.NotNullViolation):
                conn.execute(ROW, ("crude_steel", None))
            ensure_schema(conn)
            ensure_schema(conn)  # idempotent
            nullable = conn.execute(
                "SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = 'raw.industrial_output'::regclass"
                " AND attname LIKE 'value%' ORDER BY attname"
            ).fetchall()
            assert dict(nullable) == {
                "value_cumulative": True,
                "value_cumulative_base": True,
                "value_current_month": False,
                "value_current_month_base": False,
            }
            assert conn.execute("SELECT count(*) FROM raw.industrial_output").fetchone()[0] == 1  # kept
            conn.execute(ROW, ("crude_steel", None))  # February's year to date alone
            with pytest.raises(psycopg.errors.CheckViolation):  # a base value without the value
                conn.execute(ROW, ("pig_iron", Decimal(1)))
            comment = conn.execute(
                "SELECT col_description('raw.industrial_output'::regclass, attnum) FROM pg_attribute"
                " WHERE attrelid = 'raw.industrial_output'::regclass AND attname = 'value_current_month'"
            ).fetchone()[0]
            assert "February only" in comment
            lineage = conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'raw.industrial_output'::regclass"
                " AND attname LIKE 'source_version%' AND NOT attisdropped"
            ).fetchall()
            assert lineage == [("source_version_id",)]  # renamed: it holds the S3 version id
    finally:
        with psycopg.connect(services.warehouse, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")
