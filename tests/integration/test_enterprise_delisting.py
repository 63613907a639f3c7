"""An enterprise its province's registry stops listing is no longer current, and one listed again opens
a new version: three monthly registry snapshots of Shaanxi (610000, September to November 2019; the module
claims Shaanxi's whole registry, which it empties), the second one served without one enterprise (the
partition's bytes are the source's, less that enterprise's record), each loaded and transformed as the
transform DAG does."""

from __future__ import annotations

import json
from datetime import date

import pytest

from ibdc import pipeline
from ibdc.landing import raw_zone
from ibdc.sources.adapters import adapter_for
from ibdc.sources.adapters.base import Extraction, RawPage
from ibdc.sources.registry import ApiStyle, load_registry
from ibdc.transform.dbt import run_dbt
from tests.partitions import ANY

DATASET = "enterprises"
PROVINCE = "610000"
SEPTEMBER, OCTOBER, NOVEMBER = "2019-09", "2019-10", "2019-11"
pytestmark = [pytest.mark.integration, pytest.mark.partitions(dataset=DATASET, provinces=[PROVINCE], periods=ANY)]


def _transform() -> None:
    """The registry's models as a transform run after a registry load builds them, then the check of
    dim_enterprise against the registry (over every province in the test database)."""
    run_dbt(
        "build",
        "--select",
        "stg_provincial__enterprises stg_provincial__load_audit int_load_audit_latest int_enterprises_latest"
        " snap_enterprises dim_enterprise",
        "--exclude",
        "resource_type:test",
        "--quiet",
    )
    run_dbt("test", "--select", "assert_dim_enterprise_current_matches_registry", "--quiet")


def _collect(period: str) -> None:
    pipeline.extract_partition(DATASET, PROVINCE, period)
    pipeline.load_partition_from_raw(DATASET, PROVINCE, period)


def _collect_without(period: str, uscc: str) -> None:
    """The province's snapshot as its portal serves it, less one enterprise's record (and counted so)."""
    source = load_registry()[PROVINCE]
    assert source.style is ApiStyle.REST_JSON  # pages of {"total", "offset", "limit", "items"}
    served = adapter_for(source.style).extract(source, DATASET, period)
    pages, dropped = [], 0
    for page in served.pages:
        doc = json.loads(page.body)
        items = [item for item in doc["items"] if item["uscc"] != uscc]
        dropped += len(doc["items"]) - len(items)
        pages.append((doc, items, page))
    assert dropped == 1
    extraction = Extraction(source, DATASET, period, records_claimed=served.records_claimed - 1)
    for doc, items, page in pages:
        body = json.dumps({**doc, "total": doc["total"] - 1, "items": items}, ensure_ascii=False).encode()
        extraction.pages.append(RawPage(body, page.content_type, page.request, len(items)))
    raw_zone.write_partition(extraction)
    result = pipeline.load_partition_from_raw(DATASET, PROVINCE, period)
    assert result.rows_quarantined == 0 and result.rows_loaded == served.records_claimed - 1


def _versions(conn, uscc: str) -> list[tuple]:
    return conn.execute(
        "SELECT valid_from::date, valid_to::date, is_current FROM marts.dim_enterprise WHERE uscc = %s"
        " ORDER BY valid_from",
        (uscc,),
    ).fetchall()


def _current(conn) -> set[str]:
    rows = conn.execute(
        "SELECT uscc FROM marts.dim_enterprise WHERE province_code = %s AND is_current", (PROVINCE,)
    ).fetchall()
    return {u for (u,) in rows}


@pytest.fixture
def fresh_province(services, warehouse):
    """Shaanxi's registry as if never loaded (a rerun of this test starts from its first month again)."""
    warehouse.execute("DELETE FROM raw.enterprises WHERE province_code = %s", (PROVINCE,))
    warehouse.execute("DELETE FROM raw.quarantine WHERE dataset = %s AND province_code = %s", (DATASET, PROVINCE))
    if warehouse.execute("SELECT to_regclass('snapshots.snap_enterprises')").fetchone()[0]:
        warehouse.execute("DELETE FROM snapshots.snap_enterprises WHERE province_code = %s", (PROVINCE,))


def test_a_delisted_enterprise_ends_its_version_and_one_listed_again_opens_a_new_one(fresh_province, truth, warehouse):
    listed = {
        period: {e["uscc"]: e for e in truth(PROVINCE, period, DATASET)["expected"]}
        for period in (SEPTEMBER, OCTOBER, NOVEMBER)
    }
    # An active enterprise listed all three months, its record unchanged since before September.
    uscc = next(
        u
        for u, e in listed[SEPTEMBER].items()
        if e["status"] == "active"
        and all(u in listed[p] and listed[p][u]["updated_on"] == e["updated_on"] for p in (OCTOBER, NOVEMBER))
    )
    changed_on = date.fromisoformat(listed[SEPTEMBER][uscc]["updated_on"])

    _collect(SEPTEMBER)
    _transform()
    assert _versions(warehouse, uscc) == [(changed_on, None, True)]

    _collect_without(OCTOBER, uscc)  # Shaanxi's October snapshot, loaded whole, lacks it
    _transform()
    assert _versions(warehouse, uscc) == [(changed_on, date(2019, 10, 1), False)]
    snapshot = warehouse.execute(
        "SELECT dbt_valid_from::date, dbt_valid_to::date, coalesce(is_delisted, false)"
        " FROM snapshots.snap_enterprises WHERE uscc = %s ORDER BY dbt_valid_from",
        (uscc,),
    ).fetchall()
    assert snapshot == [(changed_on, date(2019, 10, 1), False), (date(2019, 10, 1), None, True)]
    # The current versions are October's snapshot: also without the enterprise the source itself
    # stopped listing in October (deregistered a year before).
    assert _current(warehouse) == set(listed[OCTOBER]) - {uscc}
    assert set(listed[SEPTEMBER]) - set(listed[OCTOBER]), "the source itself delists one in October"

    _collect(NOVEMBER)  # listed again
    _transform()
    assert _versions(warehouse, uscc) == [(changed_on, date(2019, 10, 1), False), (date(2019, 11, 1), None, True)]
    current = warehouse.execute(
        "SELECT enterprise_name, status, last_published_month FROM marts.dim_enterprise WHERE uscc = %s AND is_current",
        (uscc,),
    ).fetchone()
    assert current == (listed[NOVEMBER][uscc]["name"], "active", date(2019, 11, 1))
    assert _current(warehouse) == set(listed[NOVEMBER])
