"""A data product's contract in the Open Data Contract Standard (ODCS v3.2.0), generated from the dbt
manifest, and the classification of a mart's columns the market's gate reads.

Everything here comes from the manifest ``dbt parse`` writes (:data:`ibdc.transform.dbt.MANIFEST`):

- a column's classification from its meta (``dbt_project/models/marts/<mart>.yml``, read as the
  governance macros read it, ``governance_column_meta``): ``miit_domain``, ``security_level`` (3 for
  ``personal_data``), ``disclosure``;
- which aggregates the exchange partner reads suppressed, from ``<mart>_disclosed``, and which it never
  reads, by the disclosure-control rule of ``dbt_project/macros/governance/disclosure.sql``
  (docs/governance.md, "Disclosure control"; :func:`mart_columns` says how);
- quality from the dbt tests that hold the model and its columns (the manifest's test nodes);
- lineage from the manifest's ``parent_map``; freshness from the cadence and release delay of the raw
  datasets the mart is built from (:data:`ibdc.datasets.DATASETS`), their dbt source freshness
  thresholds and the mart's materialisation.

:func:`validate` holds a document to the standard's JSON schema and to its pydantic model, both shipped
by the pinned ``open-data-contract-standard`` package.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from ibdc.datasets import DATASETS
from ibdc.exchange.errors import InvalidContract, NotFound, Refused
from ibdc.transform.dbt import MANIFEST

API_VERSION = "v3.2.0"
MARTS_SCHEMA = "marts"
PROVINCE_COLUMN = "province_code"
TRANSFORM_DAG = "ibdc_transform_dbt"  # dags/transform_dbt.py: builds the marts and runs their tests

AggregateKind = Literal["sum", "mean", "share", "rank", "count"]
AGGREGATE_KINDS: tuple[str, ...] = ("sum", "mean", "share", "rank", "count")
# Aggregates the view <mart>_disclosed shows under the threshold and dominance rules; a rank it never shows.
_SUPPRESSIBLE = ("sum", "mean", "share")

# PostgreSQL types of the marts' columns -> ODCS logicalType.
_LOGICAL_TYPES = {
    "text": "string",
    "varchar": "string",
    "character varying": "string",
    "date": "date",
    "timestamptz": "timestamp",
    "timestamp": "timestamp",
    "timestamp with time zone": "timestamp",
    "timestamp without time zone": "timestamp",
    "smallint": "integer",
    "integer": "integer",
    "int": "integer",
    "bigint": "integer",
    "numeric": "number",
    "decimal": "number",
    "real": "number",
    "double precision": "number",
    "boolean": "boolean",
}

# dbt generic tests -> ODCS quality dimension.
_DIMENSIONS = {
    "not_null": "completeness",
    "unique": "uniqueness",
    "unique_combination": "uniqueness",
    "accepted_values": "conformity",
    "relationships": "consistency",
    "value_in_range": "conformity",
    "non_negative": "conformity",
}


@dataclass(frozen=True)
class ColumnClass:
    """A mart column as the market's gate sees it.

    ``level``: the meta's ``security_level`` (1, 2 or 3), 3 when ``personal`` (``personal_data``), None
    when ungraded. ``aggregate``: the kind of ``meta.disclosure.aggregate`` (``sum``, ``mean``,
    ``share``, ``rank``, ``count``), None for the row's own figures (``disclosure: own``).
    ``disclosed``: the exchange partner reads it from ``<mart>_disclosed``, NULL where the governance
    layer's rule suppresses its cell. ``never_disclosed``: no relation shows it to the partner; the gate
    refuses it (a rank, an aggregate no view protects, a column without valid disclosure meta).
    """

    name: str
    data_type: str | None
    description: str
    miit_domain: str | None
    level: Literal[1, 2, 3] | None
    personal: bool
    aggregate: AggregateKind | None
    disclosed: bool
    never_disclosed: bool


# --- the manifest ------------------------------------------------------------------------------------

_loaded: dict[Path, tuple[tuple[int, int], dict]] = {}


def load_manifest(path: Path | str = MANIFEST) -> dict:
    """The dbt manifest at ``path`` (default the project's, ``dbt_project/target/manifest.json``), parsed
    once and again whenever the file changes (its modification time or size). Shared between callers:
    do not modify it. Raises ``FileNotFoundError`` when there is none (``ibdc-dev dbt-parse`` writes it)."""
    path = Path(path)
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no dbt manifest at {path}: run `ibdc-dev dbt-parse` (dbt parse)") from None
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _loaded.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    manifest = json.loads(path.read_text(encoding="utf-8"))
    _loaded[path] = (stamp, manifest)
    return manifest


def _project(manifest: Mapping) -> str:
    return manifest["metadata"].get("project_name") or "ibdc"


def _mart_nodes(manifest: Mapping) -> dict[str, dict]:
    project = _project(manifest)
    return {
        n["name"]: n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["package_name"] == project and n["schema"] == MARTS_SCHEMA
    }


def marts(manifest: Mapping) -> list[str]:
    """The names of the project's models in schema ``marts``, sorted."""
    return sorted(_mart_nodes(manifest))


def _mart(manifest: Mapping, mart: str) -> dict:
    node = _mart_nodes(manifest).get(mart)
    if node is None:
        raise NotFound(f"{mart!r} is not a mart (a model in schema {MARTS_SCHEMA})", "mart")
    return node


def _model(manifest: Mapping, name: str) -> dict | None:
    project = _project(manifest)
    for n in manifest["nodes"].values():
        if n["resource_type"] == "model" and n["name"] == name and n["package_name"] == project:
            return n
    return None


# --- classification ------------------------------------------------------------------------------------


def _meta(column: Mapping) -> dict:
    """The column's meta as governance_column_meta merges it: ``meta``, then ``config.meta`` over it."""
    return {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}


def _level(meta: Mapping) -> Literal[1, 2, 3] | None:
    if meta.get("personal_data"):
        return 3
    level = str(meta.get("security_level"))
    return int(level) if level in ("1", "2", "3") else None  # type: ignore[return-value]


def _levels(node: Mapping) -> dict[str, int | None]:
    return {name.lower(): _level(_meta(col)) for name, col in node["columns"].items()}


def _contributor_level(manifest: Mapping, node: Mapping, spec: Mapping) -> int | None:
    """The security level of the value an aggregate is computed from (``spec.of``) in the model holding
    the contributors (``spec.contributors``, default the mart itself), as disclosure.sql reads it; 1 for
    a count (a count reads no value); None when unknown."""
    if spec.get("aggregate") == "count":
        return 1
    of = str(spec.get("of") or "").lower()
    if not of:
        return None
    contributors = spec.get("contributors")
    holder = node if not contributors or contributors == node["name"] else _model(manifest, str(contributors))
    return None if holder is None else _levels(holder).get(of)


def _classify(manifest: Mapping, node: Mapping, name: str, column: Mapping) -> ColumnClass:
    meta = _meta(column)
    level = _level(meta)
    spec = meta.get("disclosure")
    aggregate = spec.get("aggregate") if isinstance(spec, Mapping) else None
    sound = spec == "own" or (isinstance(spec, Mapping) and aggregate in AGGREGATE_KINDS and spec.get("within"))
    disclosed = never = False
    if not sound:
        never = True  # governance withholds a column without valid disclosure meta from the partner
    elif aggregate is not None and aggregate != "count":
        # The partner reads level-1 values: it reads every contributor of the cell when their value is level 1.
        readable = _contributor_level(manifest, node, spec) == 1
        within = [str(k).lower() for k in spec.get("within") or []]
        protected = PROVINCE_COLUMN not in within  # a cell spanning provinces: <mart>_disclosed applies the rule
        disclosed = not readable and protected and aggregate in _SUPPRESSIBLE
        never = not readable and not disclosed
    return ColumnClass(
        name=name,
        data_type=column.get("data_type"),
        description=(column.get("description") or "").strip(),
        miit_domain=meta.get("miit_domain"),
        level=level,
        personal=bool(meta.get("personal_data")),
        aggregate=aggregate if aggregate in AGGREGATE_KINDS else None,
        disclosed=disclosed,
        never_disclosed=never,
    )


def mart_columns(manifest: Mapping, mart: str) -> dict[str, ColumnClass]:
    """Each column of ``mart``, in the model's order, classified from its meta.

    The disclosure rule (disclosure.sql), for the exchange partner, which reads level-1 values: an
    aggregate (``sum``, ``mean``, ``share``, ``rank``) of a cell whose contributors' value (``of``, in
    ``contributors`` or the mart) is not level 1 is a figure over units the partner cannot read. Of those,
    the sums, means and shares of a cell spanning provinces (``within`` without ``province_code``) are
    ``disclosed`` (the view ``<mart>_disclosed`` suppresses their cell under the threshold and dominance
    rules); every other one is ``never_disclosed``: a rank (the view never shows one: order statistics pin
    values), and an aggregate of a cell no view protects. A count of contributors is shown (it tells how
    many reported, no value); so is an aggregate of level-1 values. A column without valid
    ``meta.disclosure`` is ``never_disclosed`` (governance withholds it). Raises :class:`NotFound` when
    ``mart`` is not a model in schema ``marts``."""
    node = _mart(manifest, mart)
    return {name: _classify(manifest, node, name, col) for name, col in node["columns"].items()}


def _chosen(classes: Mapping[str, ColumnClass], mart: str, columns: Iterable[str]) -> list[ColumnClass]:
    columns = list(columns)
    unknown = [c for c in columns if c not in classes]
    if unknown:
        raise NotFound(f"{mart} has no column {', '.join(unknown)}", "column")
    if not columns:
        raise NotFound(f"no column of {mart} chosen", "column")
    return [classes[c] for c in dict.fromkeys(columns)]


def _relation(node: Mapping, disclosed: bool) -> str:
    # governance_disclosed_relation: the mart's identifier (its alias) with _disclosed, in the mart's schema.
    return f"{node['schema']}.{node['alias']}{'_disclosed' if disclosed else ''}"


def served_relation(manifest: Mapping, mart: str, columns: Iterable[str]) -> str:
    """What a product of ``columns`` of ``mart`` is read from: ``marts.<mart>``, or the view
    ``marts.<mart>_disclosed`` when any chosen column is ``disclosed`` (its cells' aggregates suppressed
    under the disclosure rule). Raises :class:`NotFound` for a mart or column that does not exist."""
    node = _mart(manifest, mart)
    chosen = _chosen(mart_columns(manifest, mart), mart, columns)
    return _relation(node, any(c.disclosed for c in chosen))


# --- quality (the dbt tests) ------------------------------------------------------------------------------


def _tests(manifest: Mapping, node: Mapping) -> list[dict]:
    """The test nodes that hold ``node``: generic tests attached to it, singular tests reading it."""
    uid = node["unique_id"]
    found = []
    for child in manifest.get("child_map", {}).get(uid, []):
        test = manifest["nodes"].get(child)
        if test is None or test["resource_type"] != "test" or not test["config"].get("enabled", True):
            continue
        attached = test.get("attached_node")
        if attached == uid or (attached is None and uid in test["depends_on"].get("nodes", [])):
            found.append(test)
    return sorted(found, key=lambda t: t["name"])


def _test_kind(test: Mapping) -> str:
    """A generic test's name (``namespace.name`` for a package's), or ``singular``."""
    meta = test.get("test_metadata")
    if not meta:
        return "singular"
    return f"{meta['namespace']}.{meta['name']}" if meta.get("namespace") else meta["name"]


def _test_arguments(test: Mapping) -> dict[str, Any]:
    kwargs = dict((test.get("test_metadata") or {}).get("kwargs") or {})
    kwargs.pop("model", None)
    kwargs.pop("column_name", None)
    if test["config"].get("where"):
        kwargs["where"] = test["config"]["where"]
    return kwargs


def _quality(test: Mapping, chosen: set[str]) -> dict[str, Any]:
    """One dbt test as an ODCS quality rule: a library metric where one states the same rule (not_null,
    unique, accepted_values, a compound unique key whose columns are all in the product, none filtered
    by ``where``), otherwise a custom rule of engine dbt with the test and its arguments."""
    kind = _test_kind(test)
    arguments = _test_arguments(test)
    dbt_test = {"uniqueId": test["unique_id"], "test": kind, "arguments": arguments}
    severity = str(test["config"].get("severity") or "error").lower()
    rule: dict[str, Any] = {
        "name": test["name"],
        "description": (test.get("description") or "").strip()
        or f"dbt test {kind}" + (f" of column {test['column_name']}" if test.get("column_name") else ""),
        "severity": "warning" if severity == "warn" else severity,
        "scheduler": "airflow",
        "schedule": f"{TRANSFORM_DAG}: after each build of the model",
    }
    if kind in _DIMENSIONS:
        rule["dimension"] = _DIMENSIONS[kind]
    elif kind == "singular" and "reconcil" in test["name"]:
        rule["dimension"], rule["method"] = "accuracy", "reconciliation"
    filtered = "where" in arguments
    library: dict[str, Any] | None = None
    if kind == "not_null" and not filtered:
        library = {"metric": "nullValues", "mustBe": 0}
    elif kind == "unique" and not filtered:
        library = {"metric": "duplicateValues", "mustBe": 0}
    elif kind == "accepted_values" and not filtered:
        library = {"metric": "invalidValues", "mustBe": 0, "arguments": {"validValues": arguments["values"]}}
    elif kind == "unique_combination" and not filtered and set(arguments.get("columns") or ["?"]) <= chosen:
        library = {"metric": "duplicateValues", "mustBe": 0, "arguments": {"properties": list(arguments["columns"])}}
    if library is not None:
        rule.update(type="library", unit="rows", **library)
        rule["customProperties"] = [{"property": "dbtTest", "value": dbt_test, "vendor": "dbt"}]
    else:
        implementation = dict(dbt_test)
        if kind == "singular":
            implementation["path"] = test.get("original_file_path")
        rule.update(type="custom", engine="dbt", implementation=implementation)
    return rule


# --- lineage and freshness ------------------------------------------------------------------------------------


def lineage(manifest: Mapping, mart: str) -> dict[str, list[str]]:
    """What ``mart`` is built from, walked through the manifest's ``parent_map`` to the end:
    ``{"models": [...], "seeds": [...], "snapshots": [...], "sources": ["raw.<table>", ...]}``, each sorted
    (names; a source as ``<source>.<table>``). Raises :class:`NotFound` for a name that is not a mart."""
    start = _mart(manifest, mart)["unique_id"]
    parents = manifest.get("parent_map", {})
    seen: set[str] = set()
    todo = [start]
    while todo:
        for parent in parents.get(todo.pop(), []):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    found: dict[str, set[str]] = {"models": set(), "seeds": set(), "snapshots": set(), "sources": set()}
    for uid in seen:
        if uid in manifest.get("sources", {}):
            source = manifest["sources"][uid]
            found["sources"].add(f"{source['source_name']}.{source['name']}")
        elif uid in manifest["nodes"]:
            node = manifest["nodes"][uid]
            group = {"model": "models", "seed": "seeds", "snapshot": "snapshots"}.get(node["resource_type"])
            if group:
                found[group].add(node["name"])
    return {group: sorted(names) for group, names in found.items()}


def _duration(delta: timedelta) -> tuple[int, str]:
    """``delta`` as (value, ISO unit): whole days in ``d``, else hours in ``h``, else minutes in ``min``."""
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return seconds // 86400, "d"
    return (seconds // 3600, "h") if seconds % 3600 == 0 else (seconds // 60, "min")


_UNIT_WORDS = {"d": "days", "h": "hours", "min": "minutes"}


def _materialisation(node: Mapping) -> str:
    config = node["config"]
    materialized = config.get("materialized") or "view"
    if materialized == "incremental":
        return (
            f"incremental, {config.get('incremental_strategy') or 'the default strategy'}"
            f" on {config.get('unique_key') or 'no key'}"
        )
    return materialized


def _sla(manifest: Mapping, node: Mapping, object_name: str, sources: Sequence[str]) -> list[dict[str, Any]]:
    """Per raw dataset the mart is built from: ``frequency`` (its cadence and extraction schedule) and
    ``latency`` (its release delay: a lower bound, the load and the dbt build follow it)."""
    build = (
        f"{_relation(node, False)} is rebuilt by dbt (materialized {_materialisation(node)}) in the Airflow DAG"
        f" {TRANSFORM_DAG},"
        " which runs whenever a raw dataset's load updates its asset."
    )
    sla: list[dict[str, Any]] = []
    for source in sources:
        schema, _, table = source.partition(".")
        spec = DATASETS.get(table)
        if schema != "raw" or spec is None:
            continue
        calendar = spec.calendar
        element = f"{object_name}.{calendar.period_column}" if calendar.period_column in node["columns"] else None
        freshness = next(
            (
                s.get("freshness")
                for s in manifest.get("sources", {}).values()
                if f"{s['source_name']}.{s['name']}" == source
            ),
            None,
        )
        thresholds = {
            level: f"{t['count']} {t['period']}{'s' if t['count'] != 1 else ''}"
            for level, t in (freshness or {}).items()
            if level in ("warn_after", "error_after") and isinstance(t, Mapping) and t.get("count")
        }
        frequency: dict[str, Any] = {
            "id": f"frequency_{table}",
            "property": "frequency",
            "value": 1,
            "unit": calendar.unit,
            "scheduler": "cron",
            "schedule": calendar.cron,
            "driver": "analytics",
            "description": (
                f"{source} is collected {spec.cadence} per province: its extraction DAG runs on {calendar.cron} (UTC"
                f" data intervals), one {calendar.unit} a run. {build}"
                + (
                    " dbt source freshness warns when its newest successful load is older than"
                    f" {thresholds.get('warn_after', '-')} and fails after {thresholds.get('error_after', '-')}."
                    if thresholds
                    else ""
                )
            ),
        }
        if thresholds:
            frequency["customProperties"] = [
                {"property": "dbtSourceFreshness", "value": {"source": source, **thresholds}, "vendor": "dbt"}
            ]
        value, unit = _duration(spec.available_after)
        latency: dict[str, Any] = {
            "id": f"latency_{table}",
            "property": "latency",
            "value": value,
            "unit": unit,
            "driver": "analytics",
            "description": (
                f"At least: the sources release a {calendar.unit} of {table} {value} {_UNIT_WORDS[unit]} after it ends"
                " (ibdc.datasets), when its extraction asks for it; the load and the dbt build follow. No upper"
                " bound is promised."
            ),
        }
        for entry in (frequency, latency):
            if element:
                entry["element"] = element
            sla.append(entry)
    return sla


# --- the contract ---------------------------------------------------------------------------------------------


def _key(node: Mapping, tests: Sequence[Mapping], required: Mapping[str, bool]) -> list[str]:
    """The model's primary key when every one of its columns is chosen and not null: dbt's
    ``primary_key``, else the first unfiltered ``unique_combination`` test's columns; [] otherwise."""
    candidates = [list(node.get("primary_key") or [])]
    candidates += [
        list(_test_arguments(t).get("columns") or [])
        for t in tests
        if _test_kind(t) == "unique_combination" and "where" not in _test_arguments(t)
    ]
    for key in candidates:
        if key and all(required.get(c) for c in key):
            return key
    return []


def _not_null(column: Mapping, tests: Sequence[Mapping]) -> bool:
    if any(c.get("type") == "not_null" for c in column.get("constraints") or []):
        return True
    return any(
        _test_kind(t) == "not_null" and t.get("column_name") == column["name"] and not t["config"].get("where")
        for t in tests
    )


def _transform_description(column: ColumnClass, meta: Mapping) -> str | None:
    spec = meta.get("disclosure")
    parts = []
    if isinstance(spec, Mapping) and column.aggregate:
        over = f"{column.aggregate} of {spec['of']}" if spec.get("of") else column.aggregate
        within = ", ".join(spec.get("within") or [])
        parts.append(
            f"{over} over {spec.get('over')} within {within}"
            + (f" (contributors: {spec['contributors']})" if spec.get("contributors") else "")
        )
    if meta.get("derived_from"):
        parts.append("computed from " + ", ".join(meta["derived_from"]))
    return "; ".join(parts) or None


def _property(
    node: Mapping,
    column: ColumnClass,
    tests: Sequence[Mapping],
    required: bool,
    key: Sequence[str],
    chosen: set[str],
    approved: bool,
) -> dict[str, Any]:
    meta = _meta(node["columns"][column.name])
    prop: dict[str, Any] = {"name": column.name}
    logical = _LOGICAL_TYPES.get((column.data_type or "").lower())
    if logical:
        prop["logicalType"] = logical
    if column.data_type:
        prop["physicalType"] = column.data_type
    if column.description:
        prop["description"] = column.description
    prop["required"] = required
    if column.name in key:
        prop["primaryKey"] = True
        prop["primaryKeyPosition"] = list(key).index(column.name) + 1
    if column.level is not None:
        prop["classification"] = f"level-{column.level}"
    prop["tags"] = [
        t
        for t in (
            f"miit-domain:{column.miit_domain}" if column.miit_domain else None,
            f"security-level:{column.level}" if column.level is not None else None,
            f"aggregate:{column.aggregate}" if column.aggregate else None,
            "suppressed-by-disclosure-control" if column.disclosed else None,
        )
        if t
    ]
    custom: list[dict[str, Any]] = [
        {"property": "miitDomain", "value": column.miit_domain, "description": "MIIT industrial data domain"},
        {"property": "securityLevel", "value": column.level, "description": "MIIT grading: 1, 2 or 3"},
    ]
    if isinstance(meta.get("disclosure"), Mapping):
        custom.append({"property": "disclosure", "value": meta["disclosure"], "description": "dbt meta.disclosure"})
    if approved:
        custom.append(
            {
                "property": "level2Approved",
                "value": True,
                "description": "a level-2 column listed with the operator's recorded approval",
            }
        )
    prop["customProperties"] = custom
    transform = _transform_description(column, meta)
    if transform:
        prop["transformDescription"] = transform
    quality = [_quality(t, chosen) for t in tests if t.get("column_name") == column.name]
    if quality:
        prop["quality"] = quality
    return prop


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _refuse_unlistable(mart: str, chosen: Sequence[ColumnClass], approved_level2: frozenset[str]) -> None:
    """The gate's column rules again (fail closed): a contract is never made for what it refuses."""
    for c in chosen:
        if c.personal or c.level == 3:
            raise Refused(f"{mart}.{c.name} is level 3 or personal data: never listed", "personal_data")
        if c.level is None:
            raise Refused(f"{mart}.{c.name} declares no security level: never listed", "unclassified")
        if c.never_disclosed:
            raise Refused(f"{mart}.{c.name}: disclosure control never shows it to the exchange", "disclosure")
        if c.level == 2 and c.name not in approved_level2:
            raise Refused(f"{mart}.{c.name} is level 2 without the operator's approval", "level2_not_approved")


def contract(
    manifest: Mapping,
    mart: str,
    *,
    product_id: str,
    version: str,
    provider_id: str,
    provider_name: str,
    columns: Sequence[str],
    province_code: str | None,
    approved_level2: frozenset[str] = frozenset(),
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """The ODCS v3.2.0 contract (a JSON-serialisable dict) of product ``product_id`` ``version``: the
    ``columns`` of ``mart`` (their order kept), one province's rows (``province_code``) or every
    province's (None), provided by participant ``provider_id`` (``provider_name``).

    Where each part comes from: ``schema[0]`` is the served relation (:func:`served_relation`) with the
    model's description; each property's types, description, ``required`` (a not_null constraint or
    test), ``primaryKey`` (dbt's primary key or an unfiltered unique_combination test, when the product holds
    all its columns, each not null), ``classification``/``tags``/``customProperties`` (MIIT domain
    and level, from meta) and ``transformDescription`` (an aggregate's disclosure spec, ``derived_from``);
    ``quality`` the dbt tests holding the model (schema level) and each column (property level);
    ``slaProperties`` the raw datasets' cadence and release delay; the object's ``customProperties``
    the lineage (:func:`lineage`) and the dbt model; ``team`` the provider; the top level's
    ``customProperties`` the row scope and the manifest it was generated from. ``dataProduct`` is set
    although ODCS deprecates it since v3.1.0 (consumers of v3.0 read it).

    Raises :class:`NotFound` for a mart or column that does not exist, and :class:`Refused` for a column
    the gate refuses (level 3 or personal, ungraded, ``never_disclosed``, level 2 not in
    ``approved_level2``): the gate's rules are checked again here, fail closed."""
    node = _mart(manifest, mart)
    classes = mart_columns(manifest, mart)
    chosen = _chosen(classes, mart, columns)
    _refuse_unlistable(mart, chosen, approved_level2)
    names = {c.name for c in chosen}
    disclosed = [c for c in chosen if c.disclosed]
    relation = _relation(node, bool(disclosed))
    tests = _tests(manifest, node)
    required = {
        name: _not_null(col, tests) and not classes[name].disclosed  # a suppressed figure is NULL
        for name, col in node["columns"].items()
    }
    key = _key(node, tests, required)
    key = key if set(key) <= names else []
    upstream = lineage(manifest, mart)
    created = (created_at or datetime.now(UTC)).astimezone(UTC)

    scope = (
        f"only the rows of province {province_code} ({PROVINCE_COLUMN} = '{province_code}')"
        if province_code
        else "the rows of every province"
    )
    level2 = sorted(c.name for c in chosen if c.level == 2)
    limitations = [
        f"Rows: {scope}.",
        "Columns: security level 1"
        + (f", and level 2 with the operator's approval ({', '.join(level2)})" if level2 else "")
        + "; level-3 and personal data are never listed.",
    ]
    if disclosed:
        cells = sorted({str(_meta(node["columns"][c.name])["disclosure"].get("cell", "cell")) for c in disclosed})
        limitations.append(
            f"{', '.join(c.name for c in disclosed)} are read from {relation}: NULL where the governance layer's"
            " disclosure control suppresses their cell (too few contributors, one dominant, or not every province"
            f" loaded yet), the reason in {', '.join(f'{cell}_suppression' for cell in cells)} (docs/governance.md)."
        )
    domains = sorted({c.miit_domain for c in chosen if c.miit_domain})
    key_tests = [
        _test_arguments(t).get("columns")
        for t in tests
        if _test_kind(t) == "unique_combination" and "where" not in _test_arguments(t)
    ]
    grain = f"one row per {', '.join(key_tests[0])} of the mart" if key_tests and key_tests[0] else "the mart's rows"

    obj: dict[str, Any] = {
        "name": mart,
        "physicalName": relation,
        "physicalType": "view" if disclosed else "table",
        "logicalType": "object",
        "description": (node.get("description") or mart).strip(),
        "dataGranularityDescription": f"{grain}; {scope}",
        "properties": [
            _property(node, c, tests, required[c.name], key, names, c.name in approved_level2 and c.level == 2)
            for c in chosen
        ],
        "customProperties": [
            {
                "property": "lineage",
                "value": upstream,
                "description": "what the mart is built from: the dbt manifest's parent_map, walked to the raw sources",
            },
            {
                "property": "dbtModel",
                "value": {
                    "uniqueId": node["unique_id"],
                    "materialization": _materialisation(node),
                    "checksum": (node.get("checksum") or {}).get("checksum"),
                },
                "vendor": "dbt",
            },
        ],
    }
    model_quality = [_quality(t, names) for t in tests if not t.get("column_name")]
    if model_quality:
        obj["quality"] = model_quality

    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "id": product_id,
        "name": product_id,
        "version": version,
        "status": "active",
        # One logical domain (ODCS's field holds one): the columns' MIIT domain when they share it; each
        # column's own is in its tags and custom properties.
        "domain": domains[0] if len(domains) == 1 else "industrial",
        "dataProduct": product_id,
        "tags": [f"mart:{mart}", "ibdc-exchange"],
        "description": {
            "purpose": _first_sentence(node.get("description") or mart),
            "usage": (
                f"Read {relation} ({', '.join(c.name for c in chosen)}) under an agreement of the IBDC data-exchange"
                " market; what a consumer may do with it (purpose, period, reads, duties) is the agreement's ODRL"
                " policy, not this contract."
            ),
            "limitations": " ".join(limitations),
        },
        "schema": [obj],
        "team": {
            "id": provider_id,
            "name": provider_name,
            "description": f"Provider of the data product (unified social credit code {provider_id}).",
            "customProperties": [{"property": "unifiedSocialCreditCode", "value": provider_id}],
        },
        "slaProperties": _sla(manifest, node, mart, upstream["sources"]),
        "customProperties": [
            {
                "property": "rowScope",
                "value": {"column": PROVINCE_COLUMN, "provinceCode": province_code},
                "description": scope,
            },
            {
                "property": "generatedFrom",
                "value": {
                    "dbtVersion": manifest["metadata"].get("dbt_version"),
                    "manifestGeneratedAt": manifest["metadata"].get("generated_at"),
                    "model": node["unique_id"],
                },
                "description": "the dbt manifest this contract was generated from (ibdc.exchange.contracts)",
            },
        ],
        "contractCreatedTs": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    if not document["slaProperties"]:
        del document["slaProperties"]
    return document


# --- validation ----------------------------------------------------------------------------------------------


@cache
def _validator():
    from jsonschema import Draft201909Validator

    text = resources.files("open_data_contract_standard").joinpath("schema.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    return Draft201909Validator(schema, format_checker=Draft201909Validator.FORMAT_CHECKER)


def validate(document: Mapping[str, Any]) -> None:
    """Hold ``document`` to ODCS: JSON-serialisable, valid against the package's ``schema.json``
    (JSON Schema 2019-09) and loadable by its pydantic model ``OpenDataContractStandard``. Raises
    :class:`InvalidContract` naming the first problems (at most three, each with its JSON path)."""
    from open_data_contract_standard.model import OpenDataContractStandard
    from pydantic import ValidationError

    try:
        json.dumps(document, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidContract(f"the contract is not JSON: {error}", "contract_schema") from None
    errors = sorted(_validator().iter_errors(document), key=lambda e: (e.json_path, e.message))
    if errors:
        shown = "; ".join(f"{e.json_path}: {e.message}" for e in errors[:3])
        raise InvalidContract(
            f"the contract does not validate against ODCS {API_VERSION}'s JSON schema"
            f" ({len(errors)} problem{'s' if len(errors) > 1 else ''}): {shown}",
            "contract_schema",
        )
    try:
        OpenDataContractStandard.model_validate(document)
    except ValidationError as error:
        shown = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:3])
        raise InvalidContract(f"the contract does not load as ODCS's model: {shown}", "contract_model") from None
