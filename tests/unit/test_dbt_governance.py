"""Governance rules over the dbt manifest (``ibdc dbt-parse`` writes it; ``make test`` runs it first).

Every mart column carries ``meta: {miit_domain, security_level}`` (MIIT Industrial Data
Classification and Grading Guidelines: five domains, three levels): the grants, row-level security and
masking of the marts are generated from it (``dbt_project/macros/governance/``), so a column without it
would be ungoverned. Every source, seed, model and snapshot and each of their columns is described,
and every mart is used by an exposure (models/exposures.yml).
"""

from __future__ import annotations

import copy
import csv

import pytest

from ibdc.transform.dbt import DBT_PROJECT_DIR
from tests.dbt_manifest import project_manifest

MIIT_DOMAINS = {"rd", "production", "om", "management", "external"}
SECURITY_LEVELS = {1, 2, 3}
# A personal-data column's mask (governance_mask_expression): a keyed hash or NULL; no prefix mask.
MASKS = {"hash", "null"}
DOCUMENTED = ("model", "seed", "snapshot")


@pytest.fixture(scope="module")
def manifest() -> dict:
    return project_manifest()


def _project_nodes(manifest: dict, *types: str) -> list[dict]:
    name = manifest["metadata"].get("project_name", "ibdc")
    return [n for n in manifest["nodes"].values() if n["resource_type"] in types and n["package_name"] == name]


def _marts(manifest: dict) -> list[dict]:
    return [n for n in _project_nodes(manifest, "model") if n["fqn"][1:2] == ["marts"]]


def _meta(column: dict) -> dict:
    return {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}


def meta_problems(manifest: dict) -> list[str]:
    problems = []
    for mart in _marts(manifest):
        if not mart["columns"]:
            problems.append(f"{mart['name']}: no columns declared (each needs meta)")
        for name, column in mart["columns"].items():
            meta = _meta(column)
            if meta.get("miit_domain") not in MIIT_DOMAINS:
                problems.append(f"{mart['name']}.{name}: miit_domain {meta.get('miit_domain')!r}")
            if meta.get("security_level") not in SECURITY_LEVELS:
                problems.append(f"{mart['name']}.{name}: security_level {meta.get('security_level')!r}")
            if meta.get("personal_data") and meta.get("security_level") != 3:
                problems.append(f"{mart['name']}.{name}: personal data must be security_level 3")
            if "mask" in meta and meta["mask"] not in MASKS:
                problems.append(f"{mart['name']}.{name}: mask {meta['mask']!r} is not one of {sorted(MASKS)}")
    return problems


def _undescribed(label: str, node: dict) -> list[str]:
    """What a node (model, seed, snapshot, source) leaves undescribed: itself, its columns."""
    problems = [] if (node.get("description") or "").strip() else [f"{label}: no description"]
    if not node["columns"]:
        problems.append(f"{label}: no columns documented")
    for name, column in node["columns"].items():
        if not (column.get("description") or "").strip():
            problems.append(f"{label}.{name}: no description")
    return problems


def description_problems(manifest: dict) -> list[str]:
    problems = []
    for node in _project_nodes(manifest, *DOCUMENTED):
        label = f"{node['resource_type']} {node['name']}"
        problems += _undescribed(label, node)
        if node["resource_type"] == "seed":  # the CSV header says which columns exist
            csv_path = DBT_PROJECT_DIR / node["original_file_path"]
            with csv_path.open(encoding="utf-8") as fh:
                header = next(csv.reader(fh))
            for name in header:
                if name not in node["columns"]:
                    problems.append(f"{label}.{name}: column not documented")
    for source in manifest["sources"].values():
        if source["package_name"] != manifest["metadata"].get("project_name", "ibdc"):
            continue
        problems += _undescribed(f"source {source['source_name']}.{source['name']}", source)
        if not (source.get("source_description") or "").strip():
            problems.append(f"source {source['source_name']}: no description")
    return sorted(set(problems))


def exposure_problems(manifest: dict) -> list[str]:
    """Every mart is used by an exposure (models/exposures.yml); each exposure is described, owned and
    built on marts."""
    marts = {m["unique_id"]: m["name"] for m in _marts(manifest)}
    exposures = list(manifest.get("exposures", {}).values())
    problems = []
    for exposure in exposures:
        label = f"exposure {exposure['name']}"
        if not (exposure.get("description") or "").strip():
            problems.append(f"{label}: no description")
        owner = exposure.get("owner") or {}
        if not (owner.get("name") or owner.get("email")):
            problems.append(f"{label}: no owner")
        if not any(n in marts for n in exposure["depends_on"]["nodes"]):
            problems.append(f"{label}: depends on no mart")
    used = {n for e in exposures for n in e["depends_on"]["nodes"]}
    problems += [f"mart {name}: no exposure uses it" for uid, name in marts.items() if uid not in used]
    return sorted(problems)


def test_the_manifest_has_marts(manifest):
    assert _marts(manifest), "no model under models/marts in the manifest"


def test_every_mart_column_has_miit_domain_and_security_level(manifest):
    problems = meta_problems(manifest)
    assert not problems, "mart columns without valid governance meta:\n" + "\n".join(problems)


def test_every_mart_is_row_scoped_by_province(manifest):
    """Row-level security filters on province_code: a mart without it shows provincial analysts nothing."""
    missing = [m["name"] for m in _marts(manifest) if "province_code" not in m["columns"]]
    assert not missing, f"marts without a province_code column: {missing}"


def test_every_node_and_column_is_described(manifest):
    problems = description_problems(manifest)
    assert not problems, "undocumented:\n" + "\n".join(problems)


def test_every_mart_has_an_exposure(manifest):
    problems = exposure_problems(manifest)
    assert not problems, "exposures:\n" + "\n".join(problems)


def test_the_checks_catch_what_they_are_for(manifest):
    """The checks above on a damaged copy of the manifest: each fault is reported."""
    broken = copy.deepcopy(manifest)
    mart = _marts(broken)[0]
    column = next(iter(mart["columns"].values()))
    column["meta"], column.get("config", {})["meta"] = {"miit_domain": "finance"}, {}
    column["description"] = ""
    seed = _project_nodes(broken, "seed")[0]
    seed["description"] = " "
    source = next(iter(broken["sources"].values()))
    next(iter(source["columns"].values()))["description"] = ""
    snapshot_or_model = _project_nodes(broken, "snapshot", "model")[-1]
    snapshot_or_model["columns"] = {}

    other = list(mart["columns"].values())[1]
    other["meta"] = {**_meta(other), "personal_data": True, "security_level": 3, "mask": "partial"}

    meta = meta_problems(broken)
    assert f"{mart['name']}.{other['name']}: mask 'partial' is not one of ['hash', 'null']" in meta
    assert f"{mart['name']}.{column['name']}: miit_domain 'finance'" in meta
    assert f"{mart['name']}.{column['name']}: security_level None" in meta
    described = description_problems(broken)
    assert f"model {mart['name']}.{column['name']}: no description" in described
    assert f"seed {seed['name']}: no description" in described
    assert any(p.startswith(f"source {source['source_name']}.{source['name']}.") for p in described)
    assert f"{snapshot_or_model['resource_type']} {snapshot_or_model['name']}: no columns documented" in described

    broken["exposures"] = {}
    assert f"mart {mart['name']}: no exposure uses it" in exposure_problems(broken)
    broken["exposures"] = {
        "exposure.ibdc.x": {"name": "x", "description": "", "owner": {}, "depends_on": {"nodes": []}}
    }
    assert {"exposure x: no description", "exposure x: no owner", "exposure x: depends on no mart"} <= set(
        exposure_problems(broken)
    )


def test_every_mart_has_an_enforced_contract_with_a_type_for_every_column(manifest):
    marts = _marts(manifest)
    assert len(marts) >= 6
    for mart in marts:
        assert mart["config"]["contract"]["enforced"] is True, mart["name"]
        untyped = [c for c, col in mart["columns"].items() if not col.get("data_type")]
        assert not untyped, (mart["name"], untyped)


def test_the_docs_open_on_the_project_overview(manifest):
    """``dbt docs`` opens on the project's ``__overview__`` block (models/overview.md), not dbt's
    welcome page: it names every mart and every reader role the governance grants."""
    from ibdc.governance import PROVINCIAL_PREFIX, READERS

    project = manifest["metadata"].get("project_name", "ibdc")
    overview = manifest["docs"].get(f"doc.{project}.__overview__")
    assert overview, f"no {{% docs __overview__ %}} block in project {project}"
    text = overview["block_contents"]
    unnamed = [m["name"] for m in _marts(manifest) if f"`{m['name']}`" not in text]
    assert not unnamed, f"marts the overview does not name: {unnamed}"
    roles = [*READERS, f"{PROVINCIAL_PREFIX}<adcode>"]
    assert [r for r in roles if f"`{r}`" not in text] == []
