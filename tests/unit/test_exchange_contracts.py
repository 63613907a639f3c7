"""Data products' ODCS contracts and the column classification the exchange's gate reads
(``ibdc.exchange.contracts``), over the project's dbt manifest (``ibdc-dev dbt-parse`` writes it; parsed
here when missing, as tests/unit/test_dbt_governance.py does). No service is used."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from importlib import resources

import jsonschema
import pytest
import yaml

from ibdc.datasets import DATASETS
from ibdc.exchange import contracts
from ibdc.exchange.errors import InvalidContract, NotFound, Refused
from ibdc.transform.dbt import DBT_PROJECT_DIR
from tests.dbt_manifest import project_manifest

OUTPUT = "mart_industrial_output_monthly"
OEE_PROVINCE = "mart_equipment_oee_province_daily"
PROVIDER = {"provider_id": "12100000400000624D", "provider_name": "National industrial big-data centre"}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return project_manifest()


def _node(manifest: dict, mart: str) -> dict:
    return manifest["nodes"][f"model.ibdc.{mart}"]


def _meta(manifest: dict, mart: str, column: str) -> dict:
    col = _node(manifest, mart)["columns"][column]
    return {**(col.get("meta") or {}), **((col.get("config") or {}).get("meta") or {})}


def _listable(manifest: dict, mart: str) -> list[str]:
    """The columns the gate lists without an approval: level 1, not personal, not refused by disclosure control."""
    return [
        name
        for name, c in contracts.mart_columns(manifest, mart).items()
        if c.level == 1 and not c.personal and not c.never_disclosed
    ]


def _contract(manifest: dict, mart: str, columns: list[str], **kwargs) -> dict:
    kwargs.setdefault("province_code", None)
    return contracts.contract(
        manifest, mart, product_id=f"{mart.replace('_', '-')}", version="1.0.0", columns=columns, **PROVIDER, **kwargs
    )


def _tests_of(manifest: dict, mart: str, column: str | None) -> set[str]:
    """Names of the manifest's test nodes that hold ``mart``'s ``column`` (None: the model, generic and singular)."""
    uid = f"model.ibdc.{mart}"
    names = set()
    for test in manifest["nodes"].values():
        if test["resource_type"] != "test":
            continue
        if column is not None:
            if test.get("attached_node") == uid and test.get("column_name") == column:
                names.add(test["name"])
        elif not test.get("column_name") and (
            test.get("attached_node") == uid
            or (test.get("attached_node") is None and uid in test["depends_on"]["nodes"])
        ):
            names.add(test["name"])
    return names


def _odcs_schema() -> dict:
    text = resources.files("open_data_contract_standard").joinpath("schema.json").read_text(encoding="utf-8")
    return json.loads(text)


# --- marts and classification ----------------------------------------------------------------------------------


def test_marts_are_the_models_declared_in_models_marts(manifest):
    declared = set()
    for path in (DBT_PROJECT_DIR / "models" / "marts").glob("*.yml"):
        declared |= {m["name"] for m in yaml.safe_load(path.read_text()).get("models", [])}
    assert contracts.marts(manifest) == sorted(declared)
    assert OUTPUT in declared


def test_levels_and_domains_come_from_each_columns_meta(manifest):
    for mart in contracts.marts(manifest):
        for name, column in contracts.mart_columns(manifest, mart).items():
            meta = _meta(manifest, mart, name)
            assert column.miit_domain == meta["miit_domain"], (mart, name)
            assert column.personal == bool(meta.get("personal_data")), (mart, name)
            assert column.level == (3 if meta.get("personal_data") else int(meta["security_level"])), (mart, name)
            assert column.data_type == _node(manifest, mart)["columns"][name]["data_type"]


def test_personal_data_is_level_3(manifest):
    phone = contracts.mart_columns(manifest, "dim_enterprise")["phone"]
    assert (phone.personal, phone.level, phone.aggregate) == (True, 3, None)
    assert contracts.mart_columns(manifest, "dim_enterprise")["uscc"].level == 1


def test_level_2_column(manifest):
    output = contracts.mart_columns(manifest, OUTPUT)["output_value"]
    assert (output.level, output.personal, output.aggregate, output.disclosed, output.never_disclosed) == (
        2,
        False,
        None,
        False,
        False,
    )


def test_national_figures_are_read_suppressed_and_the_rank_never(manifest):
    classes = contracts.mart_columns(manifest, OUTPUT)
    total, share, rank, count = (
        classes[c] for c in ("national_output_value", "national_share", "province_rank", "provinces_reporting")
    )
    assert (total.aggregate, total.disclosed, total.never_disclosed) == ("sum", True, False)
    assert (share.aggregate, share.disclosed, share.never_disclosed) == ("share", True, False)
    assert (rank.aggregate, rank.disclosed, rank.never_disclosed) == ("rank", False, True)
    # A count of contributors is shown: it tells how many reported, no value.
    assert (count.aggregate, count.disclosed, count.never_disclosed) == ("count", False, False)
    assert contracts.served_relation(manifest, OUTPUT, ["province_code", "national_output_value"]) == (
        "marts.mart_industrial_output_monthly_disclosed"
    )
    assert contracts.served_relation(manifest, OUTPUT, ["province_code", "output_value"]) == (
        "marts.mart_industrial_output_monthly"
    )


def test_aggregates_follow_the_contributors_level_and_the_cell(manifest):
    classes = contracts.mart_columns(manifest, OEE_PROVINCE)
    # A sum of level-1 values of enterprises the partner reads: shown from the mart.
    devices = classes["devices_reporting"]
    assert (devices.aggregate, devices.disclosed, devices.never_disclosed) == ("sum", False, False)
    # A sum of level-2 values within a province: no view protects the cell, so never.
    output = classes["output_units"]
    assert (output.aggregate, output.disclosed, output.never_disclosed) == ("sum", False, True)

    # The same national total over level-1 values: the partner reads every contributor, the mart serves it.
    readable = copy.deepcopy(manifest)
    _node(readable, OUTPUT)["columns"]["output_value"]["config"]["meta"]["security_level"] = 1
    _node(readable, OUTPUT)["columns"]["output_value"]["meta"]["security_level"] = 1
    total = contracts.mart_columns(readable, OUTPUT)["national_output_value"]
    assert (total.disclosed, total.never_disclosed) == (False, False)
    assert contracts.served_relation(readable, OUTPUT, ["national_output_value"]) == f"marts.{OUTPUT}"

    # A cell within a province: the view has no rule for it, so the partner never reads it.
    within = copy.deepcopy(manifest)
    column = _node(within, OUTPUT)["columns"]["national_output_value"]
    for meta in (column["meta"], column["config"]["meta"]):
        meta["disclosure"]["within"] = ["province_code", "period_month"]
    total = contracts.mart_columns(within, OUTPUT)["national_output_value"]
    assert (total.disclosed, total.never_disclosed) == (False, True)


def test_a_column_without_disclosure_meta_is_never_disclosed(manifest):
    changed = copy.deepcopy(manifest)
    column = _node(changed, OUTPUT)["columns"]["unit_code"]
    for meta in (column["meta"], column["config"]["meta"]):
        del meta["disclosure"]
    assert contracts.mart_columns(changed, OUTPUT)["unit_code"].never_disclosed
    assert not contracts.mart_columns(manifest, OUTPUT)["unit_code"].never_disclosed


def test_not_found(manifest):
    for name in ("no_such_mart", "int_load_audit_latest"):  # the latter a model, not in schema marts
        with pytest.raises(NotFound) as caught:
            contracts.mart_columns(manifest, name)
        assert caught.value.status == 404 and name in str(caught.value)
    with pytest.raises(NotFound):
        contracts.served_relation(manifest, OUTPUT, ["province_code", "no_such_column"])
    with pytest.raises(NotFound):
        _contract(manifest, "int_load_audit_latest", ["province_code"])


# --- the contract ------------------------------------------------------------------------------------------------


def test_every_marts_level_1_contract_validates_against_the_odcs_schema(manifest):
    validator = jsonschema.Draft201909Validator(_odcs_schema())
    for mart in contracts.marts(manifest):
        columns = _listable(manifest, mart)
        assert columns, mart
        document = _contract(manifest, mart, columns)
        assert json.loads(json.dumps(document)) == document  # JSON as it is stored
        assert [str(e) for e in validator.iter_errors(document)] == [], mart
        contracts.validate(document)  # the schema and the pydantic model
        assert (document["apiVersion"], document["kind"], document["version"]) == ("v3.2.0", "DataContract", "1.0.0")
        (obj,) = document["schema"]
        assert obj["physicalName"] == contracts.served_relation(manifest, mart, columns) == f"marts.{mart}"
        assert [p["name"] for p in obj["properties"]] == columns
        for prop in obj["properties"]:
            meta = _meta(manifest, mart, prop["name"])
            assert prop["classification"] == "level-1"
            assert f"miit-domain:{meta['miit_domain']}" in prop["tags"]
            assert {"property": "miitDomain", "value": meta["miit_domain"]}.items() <= prop["customProperties"][
                0
            ].items()
            assert prop["physicalType"] == _node(manifest, mart)["columns"][prop["name"]]["data_type"]


def test_the_contract_states_provider_scope_and_approved_level_2(manifest):
    columns = ["province_code", "period_month", "product_code", "output_value", "national_output_value"]
    created = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    document = _contract(
        manifest,
        OUTPUT,
        columns,
        province_code="320000",
        approved_level2=frozenset({"output_value", "national_output_value"}),
        created_at=created,
    )
    contracts.validate(document)
    assert document["contractCreatedTs"] == "2026-12-01T09:30:00.000000Z"
    assert document["team"]["id"] == PROVIDER["provider_id"] and document["team"]["name"] == PROVIDER["provider_name"]
    scope = next(p for p in document["customProperties"] if p["property"] == "rowScope")
    assert scope["value"] == {"column": "province_code", "provinceCode": "320000"}
    (obj,) = document["schema"]
    assert obj["physicalName"] == f"marts.{OUTPUT}_disclosed" and obj["physicalType"] == "view"
    props = {p["name"]: p for p in obj["properties"]}
    assert props["output_value"]["classification"] == "level-2"
    assert {"property": "level2Approved", "value": True}.items() <= props["output_value"]["customProperties"][
        -1
    ].items()
    # output_value is not null in the mart and served as it is; national_output_value may be NULL.
    assert props["output_value"]["required"] is True and props["national_output_value"]["required"] is False
    assert "national_suppression" in document["description"]["limitations"]
    assert "320000" in document["description"]["limitations"]
    # The three columns of the unique_combination test form the primary key, in its order.
    (key_test,) = [
        t
        for t in manifest["nodes"].values()
        if t["resource_type"] == "test"
        and t.get("attached_node") == f"model.ibdc.{OUTPUT}"
        and (t.get("test_metadata") or {}).get("name") == "unique_combination"
    ]
    key = key_test["test_metadata"]["kwargs"]["columns"]
    assert [(n, p.get("primaryKeyPosition")) for n, p in props.items() if p.get("primaryKey")] == [
        (n, i + 1) for i, n in enumerate(key)
    ]
    every = _contract(manifest, OUTPUT, ["province_code", "period_month"])
    assert next(p for p in every["customProperties"] if p["property"] == "rowScope")["value"]["provinceCode"] is None
    assert not any(p.get("primaryKey") for p in every["schema"][0]["properties"])  # not the whole key


def test_a_suppressed_figure_is_not_required_even_where_the_mart_has_it_not_null(manifest):
    changed = copy.deepcopy(manifest)
    _node(changed, OUTPUT)["columns"]["national_output_value"]["constraints"] = [{"type": "not_null"}]
    _node(changed, OUTPUT)["columns"]["provinces_reporting"]["constraints"] = [{"type": "not_null"}]
    columns = ["province_code", "national_output_value", "provinces_reporting"]
    document = _contract(changed, OUTPUT, columns, approved_level2=frozenset({"national_output_value"}))
    required = {p["name"]: p["required"] for p in document["schema"][0]["properties"]}
    assert required == {"province_code": True, "national_output_value": False, "provinces_reporting": True}


def test_the_contract_refuses_what_the_gate_refuses(manifest):
    cases = [
        ("dim_enterprise", ["uscc", "phone"], "personal_data"),
        (OUTPUT, ["province_code", "output_value"], "level2_not_approved"),
        (OUTPUT, ["province_code", "province_rank"], "disclosure"),
    ]
    for mart, columns, rule in cases:
        with pytest.raises(Refused) as caught:
            _contract(manifest, mart, columns, approved_level2=frozenset({"province_rank"}))
        assert caught.value.rule == rule, (mart, columns)


def test_quality_lists_the_dbt_tests_of_each_column_and_the_model(manifest):
    for mart in contracts.marts(manifest):
        classes = contracts.mart_columns(manifest, mart)
        columns = [n for n, c in classes.items() if not c.personal and not c.never_disclosed and c.level in (1, 2)]
        level2 = frozenset(n for n in columns if classes[n].level == 2)
        document = _contract(manifest, mart, columns, approved_level2=level2)
        contracts.validate(document)
        (obj,) = document["schema"]
        for prop in obj["properties"]:
            assert {q["name"] for q in prop.get("quality", [])} == _tests_of(manifest, mart, prop["name"]), (mart, prop)
        assert {q["name"] for q in obj.get("quality", [])} == _tests_of(manifest, mart, None), mart
    assert _tests_of(manifest, OUTPUT, "output_value"), "the manifest has a test of output_value"


def test_quality_uses_odcs_library_metrics_where_they_state_the_dbt_test(manifest):
    document = _contract(manifest, "dim_enterprise", ["enterprise_version_key", "uscc", "valid_from", "size_class"])
    (obj,) = document["schema"]
    props = {p["name"]: p for p in obj["properties"]}
    key_rules = {q["metric"] for q in props["enterprise_version_key"]["quality"]}
    assert key_rules == {"nullValues", "duplicateValues"}
    (accepted,) = props["size_class"]["quality"]
    test = next(t for t in manifest["nodes"].values() if t["name"] == accepted["name"])
    assert (accepted["type"], accepted["metric"], accepted["mustBe"]) == ("library", "invalidValues", 0)
    assert accepted["arguments"]["validValues"] == test["test_metadata"]["kwargs"]["values"]
    by_name = {q["name"]: q for q in obj["quality"]}
    # uscc unique among current versions only (a `where`): no library metric says that, so dbt's own rule.
    current = by_name["unique_combination_dim_enterprise_uscc"]
    assert (current["type"], current["engine"]) == ("custom", "dbt")
    assert current["implementation"]["arguments"] == {"columns": ["uscc"], "where": "is_current"}
    pair = by_name["unique_combination_dim_enterprise_uscc__valid_from"]
    assert (pair["metric"], pair["arguments"]) == ("duplicateValues", {"properties": ["uscc", "valid_from"]})
    singular = by_name["assert_dim_enterprise_current_matches_registry"]
    assert singular["implementation"]["path"] == "tests/singular/assert_dim_enterprise_current_matches_registry.sql"


def test_lineage_reaches_the_raw_sources(manifest):
    for mart in contracts.marts(manifest):
        upstream = contracts.lineage(manifest, mart)
        direct = manifest["parent_map"][f"model.ibdc.{mart}"]
        assert {p.split(".")[-1] for p in direct if p.startswith("model.")} <= set(upstream["models"])
        raw = [s for s in upstream["sources"] if s.split(".")[1] in DATASETS]
        assert raw, mart
        document = _contract(manifest, mart, _listable(manifest, mart)[:1])
        recorded = next(p for p in document["schema"][0]["customProperties"] if p["property"] == "lineage")
        assert recorded["value"] == upstream
    output = contracts.lineage(manifest, OUTPUT)
    assert "raw.industrial_output" in output["sources"] and "stg_provincial__industrial_output" in output["models"]
    energy = contracts.lineage(manifest, "mart_energy_intensity_monthly")["sources"]
    assert {"raw.industrial_output", "raw.electricity_consumption"} <= set(energy)


def test_freshness_comes_from_the_raw_datasets_cadence(manifest):
    document = _contract(manifest, OUTPUT, ["province_code", "period_month"])
    sla = {p["id"]: p for p in document["slaProperties"]}
    spec = DATASETS["industrial_output"]
    assert (sla["frequency_industrial_output"]["value"], sla["frequency_industrial_output"]["unit"]) == (1, "month")
    assert sla["frequency_industrial_output"]["schedule"] == spec.calendar.cron
    assert (sla["latency_industrial_output"]["value"], sla["latency_industrial_output"]["unit"]) == (
        spec.available_after.days,
        "d",
    )
    assert sla["latency_industrial_output"]["element"] == f"{OUTPUT}.period_month"
    telemetry = _contract(manifest, "mart_equipment_oee_enterprise_daily", ["province_code", "period_day"])
    latency = {p["id"]: p for p in telemetry["slaProperties"]}["latency_equipment_telemetry"]
    assert (latency["value"], latency["unit"]) == (DATASETS["equipment_telemetry"].available_after.seconds // 3600, "h")


# --- validation ----------------------------------------------------------------------------------------------------


def test_validate_refuses_an_invalid_document(manifest):
    valid = _contract(manifest, OUTPUT, ["province_code", "period_month"])
    contracts.validate(valid)

    wrong_type = copy.deepcopy(valid)
    wrong_type["version"] = 1
    with pytest.raises(InvalidContract) as caught:
        contracts.validate(wrong_type)
    assert "$.version" in str(caught.value) and caught.value.status == 500

    missing = copy.deepcopy(valid)
    del missing["id"]
    with pytest.raises(InvalidContract, match="'id' is a required property"):
        contracts.validate(missing)

    unknown = copy.deepcopy(valid)
    unknown["schema"][0]["properties"][0]["miitDomain"] = "management"  # not an ODCS field
    with pytest.raises(InvalidContract, match="miitDomain"):
        contracts.validate(unknown)

    not_json = copy.deepcopy(valid)
    not_json["contractCreatedTs"] = datetime.now(UTC)
    with pytest.raises(InvalidContract, match="not JSON"):
        contracts.validate(not_json)


def test_load_manifest_rereads_a_changed_file(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"metadata": {"project_name": "ibdc"}, "nodes": {}}))
    first = contracts.load_manifest(path)
    assert contracts.load_manifest(path) is first  # unchanged: not parsed again
    path.write_text(json.dumps({"metadata": {"project_name": "ibdc", "dbt_version": "x"}, "nodes": {}}))
    assert contracts.load_manifest(path)["metadata"]["dbt_version"] == "x"
    with pytest.raises(FileNotFoundError, match="dbt-parse"):
        contracts.load_manifest(tmp_path / "missing.json")
