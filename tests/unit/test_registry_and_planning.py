from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ibdc.landing.manifest import Partition
from ibdc.orchestration import plan_partitions
from ibdc.reference import provinces
from ibdc.schemas import SCHEMAS
from ibdc.sources.adapters.base import Extraction, RawPage, ReconciliationError
from ibdc.sources.registry import ApiStyle, load_registry, resolve_provinces, source_for, sources_for


def test_registry_covers_the_31_provinces_in_six_styles_several_each():
    registry = load_registry()
    assert set(registry) == set(provinces())
    assert all(s.code == code for code, s in registry.items())
    assert all(s.url.endswith(f"/p/{code}") for code, s in registry.items())
    assert all(set(s.datasets) == set(SCHEMAS) for s in registry.values())
    # A style per (province, dataset): each province's own portal, and NBS for some provinces' output.
    per_style = Counter(source_for(code, dataset).style for code in registry for dataset in SCHEMAS)
    assert set(per_style) == set(ApiStyle)
    own = Counter(s.style for s in registry.values())
    assert min(own.values()) >= 4 and ApiStyle.NBS_EASYQUERY not in own  # NBS has no registries, no telemetry


def test_nbs_publishes_only_industrial_output_for_the_provinces_that_collect_it_there():
    via_nbs = {code for code in load_registry() if source_for(code, "industrial_output").style == "nbs_easyquery"}
    assert via_nbs == {"460000", "540000", "630000", "640000"}
    for code in via_nbs:
        nbs = source_for(code, "industrial_output")
        assert nbs.conn_id is None and nbs.url.endswith("/nbs") and nbs.code == code
        assert all(source_for(code, d).style != "nbs_easyquery" for d in SCHEMAS if d != "industrial_output")
    assert sources_for("industrial_output")["460000"].style == "nbs_easyquery"


def test_registry_agrees_with_the_simulated_portals():
    from ibdc_dev.simulator.service import portals, style_of

    assert {code: s.style for code, s in load_registry().items()} == {c: p["style"] for c, p in portals().items()}
    assert {(c, d): str(source_for(c, d).style) for c in load_registry() for d in SCHEMAS} == {
        (c, d): style_of(c, d) for c in portals() for d in SCHEMAS
    }


def test_every_page_asked_for_is_one_the_simulated_portal_serves():
    """The registry asks for the largest page (telemetry: 5,000 readings) each simulated portal allows."""
    from ibdc_dev.simulator.styles import app_key, jsonp, rest_json, signed_gateway

    largest = {"rest_json": rest_json.MAX_PAGE, "jsonp": jsonp.MAX_PAGE, "app_key": app_key.MAX_ROWS}
    largest["signed_gateway"] = signed_gateway.MAX_PAGE
    for code in load_registry():
        for dataset in SCHEMAS:
            source = source_for(code, dataset)
            if source.style in largest:
                assert 1 <= source.page_size(dataset) <= largest[source.style], (code, dataset)
    assert source_for("110000", "equipment_telemetry").page_size("equipment_telemetry") == rest_json.MAX_PAGE


def test_a_provinces_page_size_adds_to_the_defaults_dataset_by_dataset(tmp_path):
    path = tmp_path / "registry.yaml"
    path.write_text(
        "defaults: {base_url: 'http://x/{code}', conn_id: c, datasets: {enterprises: monthly,"
        " equipment_telemetry: daily}, page_sizes: {enterprises: 100, equipment_telemetry: 5000}}\n"
        "provinces:\n"
        "  - {code: '110000', style: rest_json, page_sizes: {equipment_telemetry: 1000}}\n"
        "  - {code: '120000', style: app_key}\n"
    )
    registry = load_registry(path)
    assert registry["110000"].page_sizes == {"enterprises": 100, "equipment_telemetry": 1000}
    assert registry["120000"].page_sizes == {"enterprises": 100, "equipment_telemetry": 5000}


def test_registry_rejects_unknown_provinces_styles_datasets_cadences_and_portals(tmp_path):
    def registry(entry: str) -> Path:
        path = tmp_path / f"registry-{abs(hash(entry))}.yaml"  # load_registry caches by path
        path.write_text(
            "defaults: {base_url: 'http://x/{code}', conn_id: c, datasets: {industrial_output: monthly}}\n"
            "portals: {stats: {style: nbs_easyquery, base_url: 'http://s', datasets: [industrial_output]}}\n"
            f"provinces:\n  - {entry}\n"
        )
        return path

    load_registry(registry('{code: "110000", style: rest_json}'))  # a valid file loads
    path = registry('{code: "110000", style: rest_json, via: {industrial_output: stats}}')
    assert source_for("110000", "industrial_output", path).base_url == "http://s"  # one line repoints it
    for entry, error in [
        ('{code: "990000", style: rest_json}', "not a GB/T 2260"),
        ('{code: "110000", style: soap}', "style"),
        ('{code: "110000", style: rest_json, datasets: {steel: monthly}}', "unknown datasets"),
        ('{code: "110000", style: rest_json, datasets: {industrial_output: daily}}', "collected monthly"),
        ('{code: "110000", style: rest_json, via: {industrial_output: nope}}', "unknown portal"),
        ('{code: "110000", style: rest_json, via: {enterprises: stats}}', "does not publish"),
    ]:
        with pytest.raises(ValueError, match=error):
            load_registry(registry(entry))


def test_provinces_param_is_validated():
    assert resolve_provinces("industrial_output", None) == sorted(provinces())
    assert resolve_provinces("industrial_output", ["440000", "110000", "440000"]) == ["110000", "440000"]
    with pytest.raises(ValueError, match="unknown provinces"):
        resolve_provinces("industrial_output", ["999999"])


def test_period_comes_from_the_data_interval_or_the_param_never_the_clock():
    start = datetime(2026, 8, 1, tzinfo=UTC)
    parts = plan_partitions("industrial_output", {"provinces": ["320000"]}, start)
    assert parts == [Partition(dataset="industrial_output", province_code="320000", period="2026-08")]
    parts = plan_partitions("industrial_output", {"period": "2025-02"}, None)  # a manual run, no logical date
    assert {p.period for p in parts} == {"2025-02"} and len(parts) == 31
    with pytest.raises(ValueError, match="no data interval"):
        plan_partitions("industrial_output", {}, None)
    with pytest.raises(ValueError, match="YYYY-MM"):
        plan_partitions("industrial_output", {"period": "2025-2"}, start)


def test_a_run_with_a_data_interval_collects_its_own_period_whatever_the_period_param(caplog):
    """Every run of a backfill gets the same conf: with ``period`` in it, each run still collects its
    own month (or day); the param is ignored, and the task log says so."""
    backfill = [datetime(2025, 4, 1, tzinfo=UTC), datetime(2025, 5, 1, tzinfo=UTC)]
    params = {"provinces": ["110000"], "period": "2025-04"}
    with caplog.at_level("WARNING", logger="ibdc.orchestration"):
        planned = [plan_partitions("industrial_output", params, start) for start in backfill]
    assert planned == [
        [Partition(dataset="industrial_output", province_code="110000", period="2025-04")],
        [Partition(dataset="industrial_output", province_code="110000", period="2025-05")],
    ]
    # The run whose interval is the param's month says nothing; the other names both periods.
    assert [r.getMessage() for r in caplog.records] == [
        "param period=2025-04 ignored: this run's data interval is 2025-05, which it collects"
        " (period is for runs without a data interval)"
    ]
    day = plan_partitions("equipment_telemetry", {"provinces": ["110000"], "period": "2025-04-01"}, backfill[1])
    assert day == [Partition(dataset="equipment_telemetry", province_code="110000", period="2025-05-01")]
    with pytest.raises(ValueError, match="YYYY-MM"):  # malformed: refused, interval or not
        plan_partitions("industrial_output", {"period": "2025-4"}, backfill[0])


def test_daily_datasets_are_planned_by_day():
    start = datetime(2026, 8, 14, tzinfo=UTC)
    parts = plan_partitions("equipment_telemetry", {"provinces": ["320000"]}, start)
    assert parts == [Partition(dataset="equipment_telemetry", province_code="320000", period="2026-08-14")]
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        plan_partitions("equipment_telemetry", {"period": "2026-08"}, start)
    with pytest.raises(ValueError, match=r"'period' param \(YYYY-MM-DD\)"):
        plan_partitions("equipment_telemetry", {}, None)


def test_reconciliation_fails_when_records_received_differ_from_claimed():
    source = load_registry()["110000"]
    ex = Extraction(source, "industrial_output", "2026-01", [RawPage(b"{}", "application/json", {}, 9)], 10)
    with pytest.raises(ReconciliationError, match="claims 10 records, received 9 distinct"):
        ex.reconcile()


def test_a_total_that_changes_between_pages_fails_the_attempt(monkeypatch):
    from types import SimpleNamespace

    from ibdc.sources.adapters import base

    totals = iter([25, 25, 26])  # the source published one more record while we paged
    monkeypatch.setattr(
        base, "fetch_page", lambda ex, send, request: SimpleNamespace(total=next(totals), num_records=10)
    )
    ex = Extraction(load_registry()["110000"], "industrial_output", "2026-01", [], None)
    with pytest.raises(base.PartitionChangedWhilePaged, match="page 2 claims 26 records, page 0 claimed 25"):
        base.fetch_paged(ex, 10, lambda i: (None, {"page": i}))


def test_a_transform_run_builds_the_periods_of_the_partitions_loaded():
    from ibdc.transform.changes import LoadedPartition, periods_by_dataset

    loads = [
        LoadedPartition("industrial_output", "110000", "2025-05", "b1"),
        LoadedPartition("industrial_output", "320000", "2025-04", "b2"),
        LoadedPartition("industrial_output", "320000", "2025-05", "b3"),
        LoadedPartition("equipment_telemetry", "110000", "2025-05-03", "b4"),
    ]
    assert periods_by_dataset(loads) == {
        "equipment_telemetry": ["2025-05-03"],
        "industrial_output": ["2025-04", "2025-05"],
    }
    assert periods_by_dataset([]) == {}


def test_secrets_in_urls_are_redacted_from_messages_and_urllib3_logs(caplog):
    import logging

    from ibdc.sources.http import redact

    url = "http://x/p/120000/openapi/v2/resource?appKey=s3cr3t&resId=abc&page=1&token=t0k&rows=10"
    assert redact(url) == "http://x/p/120000/openapi/v2/resource?appKey=***&resId=abc&page=1&token=***&rows=10"
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        logging.getLogger("urllib3.connectionpool").warning("Retrying %s", url)
    assert "s3cr3t" not in caplog.text and "t0k" not in caplog.text and "appKey=***" in caplog.text


def test_the_task_follows_the_error_kind_permanent_fails_at_once_not_released_skips_transient_retries():
    import requests
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from ibdc.errors import LayoutError, NotReleased
    from ibdc.formats import DecodeError, SchemaDrift
    from ibdc.landing.raw_zone import ChecksumMismatch
    from ibdc.loading.postgres import FewerRecordsThanLastLoad, QuarantineThresholdExceeded
    from ibdc.orchestration import retry_policy
    from ibdc.sources.adapters.base import PartitionChangedWhilePaged, SourceRefused
    from ibdc.sources.credentials import MissingCredentials

    def response(status: int) -> requests.Response:
        resp = requests.Response()
        resp.status_code = status
        return resp

    for final in (
        SchemaDrift("cumulative renamed to ytd"),
        ReconciliationError("claims 3, received 2"),
        QuarantineThresholdExceeded("30% > 20%"),
        FewerRecordsThanLastLoad("2 records, the last load had 16"),
        ChecksumMismatch("sha256 differs"),
        SourceRefused("wrong appKey"),
        MissingCredentials("no connection ibdc_x"),
        LayoutError("a national answer"),
        requests.HTTPError("401 Unauthorized", response=response(401)),
    ):
        with pytest.raises(AirflowFailException, match=type(final).__name__), retry_policy():
            raise final
    with pytest.raises(AirflowSkipException, match="not released yet"), retry_policy():
        raise NotReleased("returncode 501: no data matched the query")
    for transient in (
        requests.HTTPError("503 Server Error", response=response(503)),
        requests.ConnectionError("refused"),
        DecodeError("cut short"),
        PartitionChangedWhilePaged("total changed"),
    ):
        with pytest.raises(type(transient)), retry_policy():
            raise transient


def test_database_and_object_store_errors_have_their_kind():
    import psycopg
    from minio.error import S3Error

    from ibdc.errors import ErrorKind, kind_of

    assert kind_of(psycopg.errors.CheckViolation("value refused by a CHECK")) is ErrorKind.PERMANENT
    assert kind_of(psycopg.errors.InsufficientPrivilege("permission denied")) is ErrorKind.PERMANENT
    assert kind_of(psycopg.errors.InvalidTextRepresentation("bad numeric")) is ErrorKind.PERMANENT
    assert kind_of(psycopg.OperationalError("connection lost")) is ErrorKind.TRANSIENT
    denied = S3Error(None, "AccessDenied", "no", "/k", "r", "h")
    slow = S3Error(None, "SlowDown", "later", "/k", "r", "h")
    assert (kind_of(denied), kind_of(slow)) == (ErrorKind.PERMANENT, ErrorKind.TRANSIENT)
    assert kind_of(RuntimeError("unknown")) is ErrorKind.TRANSIENT  # the safer default: the task retries


def test_each_dataset_says_when_its_source_has_a_partition_and_whether_it_can_be_empty():
    from datetime import timedelta

    from ibdc.datasets import DATASETS

    assert {n: d.available_after for n, d in DATASETS.items()} == {
        "industrial_output": timedelta(days=16),  # NBS releases mid-month: asked on the 17th
        "electricity_consumption": timedelta(days=16),
        "enterprises": timedelta(0),
        "equipment_telemetry": timedelta(hours=2),  # late devices
    }
    assert {n for n, d in DATASETS.items() if not d.never_empty} == {"equipment_telemetry"}
    assert not DATASETS["industrial_output"].published("2025-01") and DATASETS["industrial_output"].published("2025-02")
    assert DATASETS["enterprises"].published("2025-01") and DATASETS["equipment_telemetry"].published("2025-01-01")
