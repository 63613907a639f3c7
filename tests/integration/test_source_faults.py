"""Every source fault, against the simulator over HTTP, for a province of each API style: each ends
either in success after retries or in a clear failure with nothing partial in the raw zone."""

import logging
import math
from decimal import Decimal

import pytest
import requests

from ibdc import pipeline
from ibdc.datasets import DATASETS
from ibdc.formats import DecodeError, SchemaDrift
from ibdc.landing import raw_zone
from ibdc.landing.manifest import Partition
from ibdc.settings import get_settings
from ibdc.sources.adapters import adapter_for, base
from ibdc.sources.adapters.base import RateLimited, ReconciliationError
from ibdc.sources.http import build_session
from ibdc.sources.registry import ApiStyle, source_for
from tests.integration.style_truth import PROVINCE_OF_STYLE, check_partition, raw_keys
from tests.manifests import stored_pages
from tests.parsed_partition import parse_partition
from tests.partitions import ANY, Claim

DATASET = "industrial_output"
BY_STYLE = PROVINCE_OF_STYLE
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(
        Claim(ANY, list(BY_STYLE.values()), ["2023"]),
        Claim("enterprises", ["110000"], ["2023-08"]),  # Beijing's registry for rest_json
    ),
]
PAGED = [ApiStyle.REST_JSON, ApiStyle.APP_KEY, ApiStyle.SIGNED_GATEWAY, ApiStyle.JSONP]
styles = pytest.mark.parametrize("style", list(BY_STYLE), ids=str)
# The provincial portals' styles: NBS claims no count, carries indicator codes instead of product
# codes and field names, and has no registry (its cell reconciliation: test_style_nbs_easyquery.py).
portal_styles = pytest.mark.parametrize("style", [s for s in BY_STYLE if s is not ApiStyle.NBS_EASYQUERY], ids=str)
# The styles whose portals announce a rate limit in an HTTP 200 body (their envelope's code), not a 429:
# fetch_page sends the page again, as the session does a 429.
IN_BAND_RATE_LIMIT = {ApiStyle.APP_KEY: "10004"}


def _extract(province: str, period: str, session=None, dataset: str = DATASET) -> dict:
    """Extract with a given session (short timeouts, few retries) and commit to the raw zone."""
    source = source_for(province, dataset)
    adapter = adapter_for(source.style)
    if session is not None:
        adapter.session = session
    return raw_zone.write_partition(adapter.extract(source, dataset, period))


def _loaded(warehouse, province: str, period: str) -> dict:
    return dict(
        warehouse.execute(
            "SELECT product_code, value_current_month FROM raw.industrial_output"
            " WHERE province_code = %s AND period_month = to_date(%s, 'YYYY-MM')",
            (province, period),
        ).fetchall()
    )


def _expected(truth, province: str, period: str) -> dict:
    return {e["product_code"]: Decimal(e["current_month"]) for e in truth(province, period)["expected"]}


@styles
@pytest.mark.parametrize("kind", ["rate_limited", "server_error", "truncated"])
def test_transient_faults_end_in_success_after_retries(style, kind, services, source_faults, truth, warehouse, caplog):
    province, period = BY_STYLE[style], "2023-04"
    source_faults([{"dataset": DATASET, "province": province, "kind": kind, "times": 2}])
    caplog.set_level(logging.WARNING, logger="ibdc.sources.adapters.base")
    caplog.set_level(logging.DEBUG, logger="urllib3")  # last: the capturing handler takes this level
    manifest = _extract(province, period)
    # Both faulty answers were seen and got past: a truncated page fetched again, or retried by the session.
    if kind == "truncated":
        assert sum("undecodable (attempt" in r.getMessage() for r in caplog.records) == 2
    elif kind == "rate_limited" and style in IN_BAND_RATE_LIMIT:
        assert sum(r.getMessage().startswith("rate-limited (attempt") for r in caplog.records) == 2
    else:
        assert sum(r.getMessage().startswith("Retry: ") for r in caplog.records) == 2
    assert manifest.records_received == manifest.records_claimed == len(truth(province, period)["expected"])
    pipeline.load_partition_from_raw(DATASET, province, period)
    assert _loaded(warehouse, province, period) == _expected(truth, province, period)


@pytest.mark.parametrize("style", [s for s in BY_STYLE if s not in IN_BAND_RATE_LIMIT], ids=str)
def test_a_429_is_retried_after_the_wait_the_source_asks_for(style, services, source_faults, truth, monkeypatch):
    import urllib3.util.retry

    province, period = BY_STYLE[style], "2023-02"
    source_faults([{"dataset": DATASET, "province": province, "kind": "rate_limited", "times": 1, "retry_after": 3}])
    waits = []
    monkeypatch.setattr(urllib3.util.retry.time, "sleep", waits.append)  # record the waits, do not wait
    manifest = _extract(province, period)
    assert 3 in waits  # Retry-After: 3 honoured (the exponential backoff alone would wait under a second)
    assert manifest.records_received == len(truth(province, period)["expected"])


@styles
def test_a_response_slower_than_the_timeout_is_retried(style, services, source_faults, truth, caplog):
    province, period = BY_STYLE[style], "2023-05"
    source_faults([{"dataset": DATASET, "province": province, "kind": "slow", "seconds": 3, "times": 1}])
    caplog.set_level(logging.WARNING, logger="urllib3")
    manifest = _extract(province, period, session=build_session(retries=2, timeout_s=1))
    timeouts = [r for r in caplog.records if r.getMessage().startswith("Retrying") and "timed out" in r.getMessage()]
    assert len(timeouts) == 1  # the slow answer was given up on once, and the retry was answered
    assert manifest.records_received == len(truth(province, period)["expected"])


@pytest.mark.parametrize("style", list(IN_BAND_RATE_LIMIT), ids=str)
def test_a_rate_limit_in_the_body_is_sent_again_with_increasing_waits(
    style, services, source_faults, truth, monkeypatch
):
    province, period = BY_STYLE[style], "2023-02"
    source_faults([{"dataset": DATASET, "province": province, "kind": "rate_limited", "times": 3}])
    waits = []
    monkeypatch.setattr(base.time, "sleep", waits.append)  # record the waits, do not wait
    manifest = _extract(province, period)
    assert waits == [0.5, 1.0, 2.0]  # the session's backoff for a 429 (factor 0.5), never a refusal
    assert manifest.records_received == len(truth(province, period)["expected"])


# A fault that never stops, and how the failure names it.
FOR_GOOD = {
    "server_error": ({}, requests.HTTPError, "503"),
    "rate_limited": ({"retry_after": 1}, requests.HTTPError, "429"),
    "slow": ({"seconds": 3}, requests.ConnectionError, "timed out"),
}


@styles
@pytest.mark.parametrize("kind", list(FOR_GOOD))
def test_a_source_that_stays_down_fails_clearly_and_leaves_the_raw_zone_as_it_was(style, kind, services, source_faults):
    province, period = BY_STYLE[style], "2023-03"
    pipeline.extract_partition(DATASET, province, period)
    before = raw_keys(services, DATASET, province, period)
    options, error, message = FOR_GOOD[kind]
    if kind == "rate_limited" and style in IN_BAND_RATE_LIMIT:  # transient too: the task retries
        error, message = RateLimited, f"code {IN_BAND_RATE_LIMIT[style]}: .* \\(still after 2 attempts\\)"
    source_faults([{"dataset": DATASET, "province": province, "kind": kind, **options}])
    with pytest.raises(error, match=message):
        _extract(province, period, session=build_session(retries=1, timeout_s=1))
    assert raw_keys(services, DATASET, province, period) == before


@portal_styles
def test_a_source_claiming_more_records_than_it_serves_fails_reconciliation_with_nothing_written(
    style, services, source_faults, truth
):
    """The claimed count (a page's total, a CSV's 总计 line) against the
    records received: reconciliation fails, naming both counts."""
    province, period = BY_STYLE[style], "2023-12"
    n = len(truth(province, period)["expected"])
    source_faults([{"dataset": DATASET, "province": province, "kind": "overcount", "extra": 2}])
    before = raw_keys(services, DATASET, province, period)  # an earlier run's commit stays
    with pytest.raises(ReconciliationError, match=rf"claims {n + 2} records, received {n} distinct"):
        _extract(province, period)
    assert raw_keys(services, DATASET, province, period) == before


@styles
def test_a_body_truncated_every_time_fails_clearly_with_nothing_written(style, services, source_faults):
    province, period = BY_STYLE[style], "2023-11"
    source_faults([{"dataset": DATASET, "province": province, "kind": "truncated"}])
    before = raw_keys(services, DATASET, province, period)  # an earlier run's commit stays
    with pytest.raises(DecodeError, match="undecodable after 3 attempts"):
        _extract(province, period)
    assert raw_keys(services, DATASET, province, period) == before


@portal_styles
def test_a_renamed_field_fails_clearly_as_schema_drift_with_nothing_written(style, services, source_faults):
    province, period = BY_STYLE[style], "2023-10"
    source_faults(
        [{"dataset": DATASET, "province": province, "kind": "schema_drift", "field": "cumulative", "renamed_to": "ytd"}]
    )
    before = raw_keys(services, DATASET, province, period)  # an earlier run's commit stays
    with pytest.raises(SchemaDrift, match="cumulative"):
        _extract(province, period)
    assert raw_keys(services, DATASET, province, period) == before


@pytest.mark.parametrize("style", PAGED, ids=str)
def test_records_repeated_across_pages_are_kept_once(style, services, source_faults, truth, warehouse, monkeypatch):
    # duplicate_rows: every page after the first repeats the previous page's last record at its top.
    province, period = BY_STYLE[style], "2023-07"
    n = len(truth(province, period)["expected"])
    # A page size at which a client counting the repeats as records would stop a page early.
    size = next(s for s in range(2, n) if any(k * s < n <= k * s + k - 1 for k in range(1, n)))
    monkeypatch.setattr(get_settings(), "page_size", size)
    source_faults([{"dataset": DATASET, "province": province, "kind": "duplicate_rows"}])
    manifest = _extract(province, period)
    expected = _expected(truth, province, period)
    assert len(manifest.objects) == math.ceil(n / size) > 2
    assert len(manifest.duplicates) == len(manifest.objects) - 1
    assert all(d.identical for d in manifest.duplicates)
    assert manifest.records_received == len(expected) + len(manifest.duplicates)
    result = pipeline.load_partition_from_raw(DATASET, province, period)
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (len(expected), len(expected), 0)
    assert _loaded(warehouse, province, period) == expected
    check_partition(warehouse, truth(province, period), result)  # every record as served, once, in order


@styles
@pytest.mark.parametrize(
    ("malformation", "field", "reason"),
    [
        ("bad_number", "current_month", "valid decimal"),
        ("negative", "cumulative", "non-negative"),
        ("unknown_code", "product_code", "unknown product code"),
    ],
)
def test_malformed_records_are_quarantined_with_their_reason(
    style, malformation, field, reason, services, source_faults, truth, warehouse
):
    if style is ApiStyle.NBS_EASYQUERY and malformation == "unknown_code":
        pytest.skip("NBS serves indicator codes: a product code cannot be malformed (the fault is refused, below)")
    province, period = BY_STYLE[style], "2023-08"
    source_faults(
        [
            {
                "dataset": DATASET,
                "province": province,
                "kind": "malformed",
                "malformation": malformation,
                "field": field,
                "key": "cement",  # every province produces cement
            }
        ]
    )
    pipeline.extract_partition(DATASET, province, period)
    result = pipeline.load_partition_from_raw(DATASET, province, period)
    assert result.rows_quarantined == 1
    (raw_text, why) = warehouse.execute(
        "SELECT raw_text, reason FROM raw.quarantine WHERE dataset = %s AND province_code = %s AND period = %s",
        (DATASET, province, period),
    ).fetchone()
    assert reason in why and raw_text
    assert _loaded(warehouse, province, period) == _expected(truth, province, period)


@portal_styles
@pytest.mark.parametrize(
    ("malformation", "field", "reason"),
    [
        ("invalid_credit_code", "uscc", "invalid unified social credit code"),
        ("future_date", "registered_on", "future date"),
    ],
)
def test_malformed_registry_records_are_quarantined_with_their_reason(
    style, malformation, field, reason, services, source_faults, truth, warehouse
):
    # Beijing for rest_json: Zhejiang's registry has a fault of its own in the default profile.
    province = "110000" if style is ApiStyle.REST_JSON else BY_STYLE[style]
    period, dataset = "2023-08", "enterprises"
    # Every 20th enterprise (each of these provinces has 23 or more: 1 to 5 broken, under the 5% threshold).
    fault = {"dataset": dataset, "province": province, "kind": "malformed", "malformation": malformation}
    source_faults([{**fault, "field": field, "every": 20}])
    expected = truth(province, period, dataset)
    pipeline.extract_partition(dataset, province, period)
    result = pipeline.load_partition_from_raw(dataset, province, period)
    reasons = [
        r
        for (r,) in warehouse.execute(
            "SELECT reason FROM raw.quarantine WHERE dataset = %s AND province_code = %s AND period = %s",
            (dataset, province, period),
        ).fetchall()
    ]
    assert len(reasons) == result.rows_quarantined == len(expected["malformed"]) > 0
    assert all(reason in r for r in reasons), reasons
    assert result.rows_loaded == len(expected["expected"])


@styles
def test_a_revised_month_replaces_the_figures_and_the_raw_zone_keeps_the_first_release(
    style, services, source_faults, truth, warehouse
):
    province, period = BY_STYLE[style], "2023-09"
    pipeline.extract_partition(DATASET, province, period)
    first = raw_zone.read_manifest(Partition(dataset=DATASET, province_code=province, period=period))
    pipeline.load_partition_from_raw(DATASET, province, period)
    original = _loaded(warehouse, province, period)

    source_faults(
        [{"dataset": DATASET, "province": province, "kind": "revision", "periods": [period], "factor": "1.1"}]
    )
    pipeline.extract_partition(DATASET, province, period)
    pipeline.load_partition_from_raw(DATASET, province, period)
    revised = _loaded(warehouse, province, period)
    assert revised == _expected(truth, province, period) != original
    assert all(revised[p] >= original[p] for p in original)
    # The first release stays readable: bucket versioning keeps the superseded pages, whose bytes
    # still match the first manifest's checksums, and parse to the original figures.
    again = parse_partition(DATASETS[DATASET], first, stored_pages(first))
    assert {r["product_code"]: Decimal(r["value_current_month"]) for r in again.rows.to_pylist()} == original


@styles
def test_loading_replays_from_the_raw_zone_without_calling_the_source(style, services, source_faults, warehouse):
    province = BY_STYLE[style]
    for dataset, spec in DATASETS.items():
        period = "2023-06-03" if spec.cadence == "daily" else "2023-06"
        pipeline.extract_partition(dataset, province, period)
        # The source is down from now on; parsing and loading only read the raw zone.
        source_faults([{"dataset": dataset, "province": province, "kind": "server_error"}])
        result = pipeline.load_partition_from_raw(dataset, province, period)
        manifest = raw_zone.read_manifest(Partition(dataset=dataset, province_code=province, period=period))
        replayed = parse_partition(spec, manifest, stored_pages(manifest))
        assert result.rows_loaded == replayed.rows_loaded > 0, dataset
        assert result.rows_quarantined == len(replayed.rejects), dataset
        loaded = warehouse.execute(
            f"SELECT count(*) FROM {spec.table} WHERE {spec.partition_predicate}", (province, period)
        ).fetchone()[0]
        assert loaded == replayed.rows_loaded, dataset


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ({"province": "230000", "kind": "duplicate_rows"}, "duplicate_rows needs pages"),  # csv_download
        ({"province": "630000", "kind": "duplicate_rows"}, "duplicate_rows needs pages"),  # nbs_easyquery
        ({"province": "630000", "kind": "overcount"}, "NBS easyquery, which cannot have overcount"),
        ({"province": "630000", "kind": "schema_drift", "field": "cumulative", "renamed_to": "ytd"}, "schema_drift"),
        (
            {"province": "630000", "kind": "malformed", "malformation": "unknown_code", "key": "cement"},
            "cannot have malformed unknown_code",
        ),
        ({"province": "330000", "kind": "revision", "periods": ["2023-01"], "dataset": "enterprises"}, "revision"),
        ({"province": "990000", "kind": "server_error"}, "no provincial source 990000"),
    ],
)
def test_a_fault_the_portal_cannot_have_is_refused(fault, why, services):
    response = requests.post(
        f"{services.sources_url}/admin/faults",
        json=[{"dataset": DATASET, **fault}],
        headers={"X-Admin-Secret": services.simulator_client_secret},
        timeout=10,
    )
    assert response.status_code == 422 and why in response.text, response.text
    listed = requests.get(
        f"{services.sources_url}/admin/faults", headers={"X-Admin-Secret": services.simulator_client_secret}, timeout=10
    ).json()
    assert all(f["province"] != fault["province"] or f["kind"] != fault["kind"] for f in listed)
