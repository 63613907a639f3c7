"""The jsonp style end to end: simulator -> adapter -> raw zone -> parse and load, against the truth.

The helpers here (truth, faults, the comparison of a raw partition with the truth) serve the other
style tests too.
"""

import json
import logging
import math
from decimal import Decimal, InvalidOperation

import pytest
import requests

from ibdc import datasets as platform
from ibdc import pipeline
from ibdc.formats import format_for
from ibdc.landing import raw_zone
from ibdc.schemas import SCHEMAS, Cadence, Kind, RecordSchema, canonical_text
from ibdc.settings import get_settings
from ibdc.simulator.datasets import DATASETS as SIMULATED
from ibdc.sources.adapters import adapter_for
from ibdc.sources.registry import ApiStyle, load_registry

pytestmark = pytest.mark.integration

STYLE = ApiStyle.JSONP
PROVINCE = "520000"  # Guizhou
NUMERIC = (Kind.DECIMAL, Kind.INT)
# Columns of the platform's parsed rows that carry a contract field under another name.
PARSED_AS = {"unit_code": "unit", "value_current_month": "current_month", "value_cumulative": "cumulative"}


def period_of(dataset: str) -> str:
    return "2025-06" if SCHEMAS[dataset].cadence is Cadence.MONTHLY else "2025-06-03"


def get_truth(services, dataset: str, province: str, period: str) -> dict:
    resp = requests.get(
        f"{services.sources_url}/truth/{dataset}", params={"province": province, "period": period}, timeout=60
    )
    resp.raise_for_status()
    return resp.json()


@pytest.fixture
def faults(services):
    """Add simulator faults for one test; the board is back to the profile's afterwards."""
    url = f"{services.sources_url}/admin/faults"
    headers = {"X-Admin-Secret": services.simulator_client_secret}

    def add(*items: dict) -> None:
        requests.post(url, json=list(items), headers=headers, timeout=10).raise_for_status()

    requests.delete(url, headers=headers, timeout=10).raise_for_status()
    try:
        yield add
    finally:
        requests.delete(url, headers=headers, timeout=10).raise_for_status()


def malformed_fault(dataset: str, province: str, records: int) -> dict:
    """Break one field of every n-th record: at least one record, and about half the share of bad
    records the dataset's load tolerates. A number gets a bad number, else a date one in 2099."""
    spec = platform.DATASETS.get(dataset)
    every = min(math.ceil(2 / spec.max_quarantine_share) if spec else 10, records)
    schema = SCHEMAS[dataset]
    numeric = [f.name for f in schema.fields if f.kind in NUMERIC]
    dated = [f.name for f in schema.fields if f.kind in (Kind.DATE, Kind.TIMESTAMP)]
    field, how = (numeric[0], "bad_number") if numeric else (dated[0], "future_date") if dated else (None, None)
    assert field, f"no field of {dataset} to break"
    return {
        "dataset": dataset,
        "province": province,
        "kind": "malformed",
        "malformation": how,
        "field": field,
        "every": every,
    }


def same(kind: Kind, got: object, want: str | None) -> bool:
    """``got`` (text as served, or a parser's typed value) is the truth's canonical text ``want``."""
    if got is None or want is None:
        return got is want
    if kind in NUMERIC:
        try:
            return Decimal(str(got)) == Decimal(want)
        except InvalidOperation:
            pass
    return canonical_text(kind, got) == want


def served_records(manifest: dict, bodies: list[bytes]) -> list[dict]:
    """The partition's records as served, in order, each once (repeats across pages dropped)."""
    fmt = format_for(manifest["source"]["style"])
    schema = SCHEMAS[manifest["dataset"]]
    repeats = {(d["page"], d["index"]) for d in manifest["duplicates"]}
    records = []
    for obj, body in zip(manifest["objects"], bodies, strict=True):
        page = fmt.decode(schema, body).table.to_pylist()
        records += [r for i, r in enumerate(page) if (obj["page"], i) not in repeats]
    return records


def check_partition(warehouse, dataset: str, province: str, truth: dict, load: bool = True) -> dict:
    """The raw partition against the truth: every record as served; then, where the platform collects
    the dataset, the parsed rows and rejects and what the load wrote. Returns the manifest."""
    schema: RecordSchema = SCHEMAS[dataset]
    period = truth["period"]
    manifest = raw_zone.read_manifest(dataset, province, period)
    bodies = raw_zone.read_pages(manifest)
    assert manifest["source"]["style"] == str(load_registry()[province].style)
    expected, malformed = truth["expected"], {m["position"]: m for m in truth["malformed"]}

    records = served_records(manifest, bodies)
    assert len(records) == len(expected) + len(malformed) == manifest["records_claimed"] > 0
    assert manifest["records_distinct"] == manifest["records_claimed"]
    # The truth names a malformed record by its key before the fault; these malformations break the key.
    intact = {p for p, m in malformed.items() if m["kind"] not in ("unknown_code", "invalid_credit_code")}
    wanted = iter(expected)
    for position, record in enumerate(records):
        if position in malformed:
            if position in intact:
                assert record[schema.key[0]] == malformed[position]["key"]
            continue
        want = next(wanted)
        for f in schema.fields:
            assert same(f.kind, record[f.name], want[f.name]), (position, f.name, record[f.name], want[f.name])

    spec = platform.DATASETS.get(dataset)
    if spec is None:  # the platform does not collect this dataset yet: the raw zone is all there is
        return manifest
    parsed = spec.parse(manifest, bodies)
    assert sorted(r.record_position for r in parsed.rejects) == sorted(malformed)
    for reject in parsed.rejects:  # quarantined with the record as served
        if reject.record_position in intact:
            assert malformed[reject.record_position]["key"] in reject.raw_text
    columns = {c: PARSED_AS.get(c, c) for c in parsed.rows.column_names if PARSED_AS.get(c, c) in schema.names}
    assert set(schema.key) <= set(columns.values()), f"parsed rows of {dataset} lack the key {schema.key}"
    column_of = {field: column for column, field in columns.items()}
    want_by_key = {schema.key_of(r): r for r in expected}
    rows = parsed.rows.to_pylist()
    assert len(rows) == len(want_by_key) == len(expected)
    for row in rows:
        want = want_by_key[tuple(row[column_of[k]] for k in schema.key)]
        for column, field in columns.items():
            assert same(schema.field(field).kind, row[column], want[field]), (row, field, want[field])

    if load:
        result = pipeline.load_partition_from_raw(dataset, province, period)
        assert (result.rows_loaded, result.rows_quarantined) == (len(expected), len(malformed))
        count = warehouse.execute(
            f"SELECT count(*) FROM {spec.table} WHERE {spec.partition_predicate}", (province, period)
        ).fetchone()[0]
        quarantined = warehouse.execute(
            "SELECT record_position FROM raw.quarantine WHERE dataset = %s AND province_code = %s AND period = %s"
            " ORDER BY record_position",
            (dataset, province, period),
        ).fetchall()
        assert count == len(expected)
        assert [q[0] for q in quarantined] == sorted(malformed)
    return manifest


@pytest.fixture
def page_size(monkeypatch):
    """Set the extraction page size: a few pages a partition, whatever the partition's size."""

    def set_for(records: int) -> int:
        size = max(get_settings().page_size, math.ceil(records / 4))
        monkeypatch.setattr(get_settings(), "page_size", size)
        return size

    return set_for


@pytest.mark.parametrize("dataset", sorted(SIMULATED))
def test_partition_extracts_and_loads_as_the_truth(services, warehouse, faults, page_size, dataset):
    period = period_of(dataset)
    records = len(get_truth(services, dataset, PROVINCE, period)["expected"])
    faults(malformed_fault(dataset, PROVINCE, records))
    truth = get_truth(services, dataset, PROVINCE, period)
    assert truth["malformed"], "the fault breaks some records"
    size = page_size(len(truth["expected"]) + len(truth["malformed"]))
    if dataset in platform.DATASETS:
        pipeline.extract_partition(dataset, PROVINCE, period)
    else:  # not collected by the platform yet: extract straight into the raw zone
        source = load_registry()[PROVINCE]
        raw_zone.write_partition(adapter_for(source.style).extract(source, dataset, period))
    manifest = check_partition(warehouse, dataset, PROVINCE, truth)
    assert len(manifest["objects"]) == math.ceil(manifest["records_claimed"] / size) > 1
    assert [o["request"]["params"]["pageNo"] for o in manifest["objects"]] == list(
        range(1, len(manifest["objects"]) + 1)
    )
    assert all(o["content_type"] == "application/javascript" for o in manifest["objects"])
    assert all(o["key"].endswith(".js") for o in manifest["objects"])
    assert services.simulator_client_secret not in json.dumps(manifest)  # token=*** in the requests


def test_default_profile_malformed_figure_is_quarantined_with_its_text(services, warehouse):
    # The default fault profile breaks Guangxi's crude steel figure ("12O,5x"-like): it stays as served.
    truth = get_truth(services, "industrial_output", "450000", "2025-06")
    (bad,) = truth["malformed"]
    pipeline.extract_partition("industrial_output", "450000", "2025-06")
    check_partition(warehouse, "industrial_output", "450000", truth)
    manifest = raw_zone.read_manifest("industrial_output", "450000", "2025-06")
    records = served_records(manifest, raw_zone.read_pages(manifest))
    served = records[bad["position"]]["current_month"]
    assert served.endswith("x") and "," in served


def test_repeated_records_across_pages_are_kept_once(services, warehouse, faults, monkeypatch):
    # duplicate_rows: every page after the first repeats the previous page's last record at its top.
    faults({"dataset": "industrial_output", "province": "150000", "kind": "duplicate_rows"})
    truth = get_truth(services, "industrial_output", "150000", "2025-06")
    n = len(truth["expected"])
    # A page size at which a client counting the repeats as records would stop a page early.
    size = next(s for s in range(2, n) if any(k * s < n <= k * s + k - 1 for k in range(1, n)))
    monkeypatch.setattr(get_settings(), "page_size", size)
    pipeline.extract_partition("industrial_output", "150000", "2025-06")
    manifest = check_partition(warehouse, "industrial_output", "150000", truth)
    pages = len(manifest["objects"])
    assert pages == math.ceil(n / size) > 2
    assert len(manifest["duplicates"]) == pages - 1 and all(d["identical"] for d in manifest["duplicates"])
    assert manifest["records_received"] == n + pages - 1


@pytest.mark.parametrize("kind", ["rate_limited", "server_error", "truncated"])
def test_transient_faults_end_in_success(services, warehouse, faults, caplog, kind):
    province, period = "360000", "2025-06"
    faults({"dataset": "industrial_output", "province": province, "kind": kind, "times": 2})
    caplog.set_level(logging.WARNING, logger="ibdc.sources.adapters.base")
    caplog.set_level(logging.DEBUG, logger="urllib3")  # last: the capturing handler takes this level
    pipeline.extract_partition("industrial_output", province, period)
    check_partition(
        warehouse, "industrial_output", province, get_truth(services, "industrial_output", province, period)
    )
    if kind == "truncated":  # the page was fetched again
        assert sum("undecodable (attempt" in r.getMessage() for r in caplog.records) == 2
    else:  # the session retried
        assert sum(r.getMessage().startswith("Retry: ") for r in caplog.records) == 2
    assert services.simulator_client_secret not in caplog.text


def test_a_bad_token_fails_clearly(services, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_IBDC_SIMULATOR", json.dumps({"conn_type": "http", "password": "not-the-secret"}))
    source = load_registry()[PROVINCE]
    with pytest.raises(requests.HTTPError, match="refused the client secret") as caught:
        adapter_for(source.style).extract(source, "industrial_output", "2025-06")
    assert caught.value.response.status_code == 401
    assert "not-the-secret" not in str(caught.value)


def test_the_portal_answers_javascript_with_the_callback_asked_for(services):
    url = f"{services.sources_url}/p/{PROVINCE}/jsonp/industrial_output.do"
    params = {"period": "2025-06", "pageNo": 2, "pageSize": 3, "token": services.simulator_client_secret}
    resp = requests.get(url, params={**params, "callback": "jQuery1124_$cb"}, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/javascript"
    assert resp.content.startswith(b"jQuery1124_$cb({") and resp.content.endswith(b"});")
    page = format_for("jsonp").decode(SCHEMAS["industrial_output"], resp.content)
    assert page.num_records == 3
    for callback in ("alert(document.cookie)//", "a.b", "<script>", "x" * 200):
        assert requests.get(url, params={**params, "callback": callback}, timeout=10).status_code == 400
    assert requests.get(url, params={**params, "callback": "cb", "token": ""}, timeout=10).status_code == 401
    # Only the portal's own provinces answer in this style.
    other = f"{services.sources_url}/p/110000/jsonp/industrial_output.do"
    assert requests.get(other, params={**params, "callback": "cb"}, timeout=10).status_code == 404
