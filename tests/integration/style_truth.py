"""Helpers of the per-style integration tests: the simulator's ground truth and faults over HTTP, and
the check that a loaded partition holds exactly what the truth says."""

from __future__ import annotations

from decimal import Decimal

import requests

from ibdc.datasets import DATASETS
from ibdc.landing import raw_zone
from ibdc.schemas import SCHEMAS, Cadence, Kind, RecordSchema, canonical_text
from ibdc.simulator.datasets import DATASETS as SIMULATED

# Columns a dataset's parser renames, as parsed column -> contract field (the rest keep their names).
ALIASES = {
    "industrial_output": {
        "unit_code": "unit",
        "value_current_month": "current_month",
        "value_cumulative": "cumulative",
    },
    "electricity_consumption": {
        "consumption_10k_kwh": "consumption",
        "cumulative_10k_kwh": "cumulative",
    },
}
NUMERIC = (Kind.DECIMAL, Kind.INT)


def collected_datasets() -> list[str]:
    """Datasets the simulator serves and the platform loads (new ones are covered as they land)."""
    return sorted(set(SIMULATED) & set(DATASETS))


def period_for(dataset: str, month: str, day: int = 3) -> str:
    return month if SCHEMAS[dataset].cadence is Cadence.MONTHLY else f"{month}-{day:02d}"


def truth(services, dataset: str, province: str, period: str) -> dict:
    resp = requests.get(
        f"{services.sources_url}/truth/{dataset}", params={"province": province, "period": period}, timeout=30
    )
    resp.raise_for_status()
    return resp.json()


def set_faults(services, faults: list[dict]) -> None:
    headers = {"X-Admin-Secret": services.simulator_client_secret}
    url = f"{services.sources_url}/admin/faults"
    requests.delete(url, headers=headers, timeout=10).raise_for_status()
    if faults:
        requests.post(url, json=faults, headers=headers, timeout=10).raise_for_status()


def first_numeric_field(schema: RecordSchema) -> str | None:
    return next((f.name for f in schema.fields if f.kind in NUMERIC), None)


def _normal(kind: Kind, value: object) -> object:
    if value is None:
        return None
    if kind in NUMERIC:
        return Decimal(str(value))
    return canonical_text(kind, value)


def _by_key(schema: RecordSchema, rows: list[dict], columns: dict[str, str]) -> dict[tuple, dict]:
    """Rows keyed by the dataset's key, each as contract field -> normalised value."""
    out = {}
    for row in rows:
        record = {field: _normal(schema.field(field).kind, row[column]) for column, field in columns.items()}
        key = tuple(record[k] for k in schema.key)
        assert key not in out, f"{schema.dataset}: key {key} twice"
        out[key] = record
    return out


def check_against_truth(services, warehouse, style: str, dataset: str, province: str, period: str, load) -> dict:
    """The partition as loaded, and as parsed again from the raw zone, is exactly the truth: the
    valid records with their values, the malformed ones quarantined. Returns the truth."""
    spec, schema = DATASETS[dataset], SCHEMAS[dataset]
    expected = truth(services, dataset, province, period)
    manifest = raw_zone.read_manifest(dataset, province, period)
    parsed = spec.parse(manifest, raw_zone.read_pages(manifest))

    assert manifest["source"]["style"] == style  # what the parser decodes the pages with
    assert manifest["records_claimed"] == manifest["records_distinct"]
    assert manifest["records_distinct"] == len(expected["expected"]) + len(expected["malformed"])
    assert parsed.rows_loaded == load.rows_loaded == len(expected["expected"]) > 0
    assert len(parsed.rejects) == load.rows_quarantined == len(expected["malformed"])
    if not manifest["duplicates"]:  # positions count records as served, repeats included
        assert sorted(r.record_position for r in parsed.rejects) == sorted(m["position"] for m in expected["malformed"])
    loaded = warehouse.execute(
        f"SELECT count(*) FROM {spec.table} WHERE {spec.partition_predicate}", (province, period)
    ).fetchone()[0]
    assert loaded == len(expected["expected"])

    rows = parsed.rows
    aliases = ALIASES.get(dataset, {})
    columns = {c: aliases.get(c, c) for c in rows.column_names if aliases.get(c, c) in schema.names}
    unmapped = [k for k in schema.key if k not in columns.values()]
    assert not unmapped, f"parsed {dataset} rows lack its key {unmapped}: map the columns in ALIASES"
    assert set(columns.values()) - set(schema.key), f"only {dataset}'s key is compared: map its columns in ALIASES"
    truth_rows = [{c: r[f] for c, f in columns.items()} for r in expected["expected"]]
    assert _by_key(schema, rows.to_pylist(), columns) == _by_key(schema, truth_rows, columns)
    return expected
