"""Helpers of the integration tests against the simulator (``test_styles.py``, ``test_style_<style>.py``,
``test_source_faults.py``): the check that a partition -- as served, as stored in the raw zone, as parsed
again from it and as loaded -- is exactly the simulator's truth; a fault that breaks some records of any
dataset; a page size that makes any partition a few pages; the raw zone's objects of a partition. The
truth and the faults come from the fixtures ``truth`` and ``source_faults`` (tests/conftest.py)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from ibdc.datasets import DATASETS
from ibdc.formats import format_for
from ibdc.landing import raw_zone
from ibdc.landing.manifest import Manifest, Partition
from ibdc.landing.object_store import client
from ibdc.schemas import SCHEMAS, Cadence, Kind, RecordSchema, canonical_text
from ibdc.sources.registry import ApiStyle, load_registry, source_for
from tests.manifests import stored_pages
from tests.parsed_partition import parse_partition

NUMERIC = (Kind.DECIMAL, Kind.INT)
# One province of each style for industrial output, none with a fault in the default profile.
PROVINCE_OF_STYLE = {
    ApiStyle.REST_JSON: "330000",
    ApiStyle.APP_KEY: "130000",
    ApiStyle.SIGNED_GATEWAY: "340000",
    ApiStyle.JSONP: "360000",
    ApiStyle.CSV_DOWNLOAD: "230000",
    ApiStyle.NBS_EASYQUERY: "630000",  # Qinghai's industrial output comes from NBS
}
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
# What the reason of a quarantined record says, by the truth's malformation kind (whatever the dataset).
REASONS = {
    "bad_number": r"valid decimal|must be (an integer|a non-negative)",
    "negative": r"non-negative",
    "unknown_code": r"unknown (product|division) code",
    "invalid_credit_code": r"invalid unified social credit code",
    "future_date": r"future date|outside the partition day",
}
# The truth names a malformed record by its key before the fault; these malformations break the key.
KEY_BREAKING = ("unknown_code", "invalid_credit_code")


def period_for(dataset: str, month: str, day: int = 3) -> str:
    """The dataset's partition in ``month``: the month, or one of its days."""
    return month if SCHEMAS[dataset].cadence is Cadence.MONTHLY else f"{month}-{day:02d}"


def raw_keys(services, dataset: str, province: str, period: str) -> list[str]:
    """The names of the objects the raw zone holds for a partition now (current versions, manifest included)."""
    prefix = Partition(dataset=dataset, province_code=province, period=period).prefix
    return sorted(o.object_name for o in client().list_objects(services.raw_bucket, prefix=prefix, recursive=True))


def set_page_size(monkeypatch, province: str, dataset: str, records: int) -> int:
    """Make a partition of ``records`` about three pages, whatever its size (the page size the registry
    gives the province for the dataset, for this test)."""
    size = max(1, math.ceil(records / 3))
    monkeypatch.setitem(load_registry()[province].page_sizes, dataset, size)
    return size


def malformed_fault(dataset: str, province: str, records: int) -> dict:
    """Break one field of every n-th record: at least one record, and about half the share of bad
    records the dataset's load tolerates. A number gets a bad number, else a date one in 2099."""
    schema = SCHEMAS[dataset]
    numeric = [f.name for f in schema.fields if f.kind in NUMERIC]
    dated = [f.name for f in schema.fields if f.kind in (Kind.DATE, Kind.TIMESTAMP)]
    field, how = (numeric[0], "bad_number") if numeric else (dated[0], "future_date")
    return {
        "dataset": dataset,
        "province": province,
        "kind": "malformed",
        "malformation": how,
        "field": field,
        "every": min(math.ceil(2 / DATASETS[dataset].max_quarantine_share), records),
    }


def served_records(manifest: Manifest, bodies: list[bytes]) -> list[tuple[int, dict]]:
    """The partition's records as served, in order, each once (repeats across pages dropped), as the
    style's format decodes them: (position among all records served, repeats included; record)."""
    fmt = format_for(manifest.source.style)
    schema = SCHEMAS[manifest.dataset]
    repeats = {(d.page, d.index) for d in manifest.duplicates}
    records, position = [], 0
    for obj, body in zip(manifest.objects, bodies, strict=True):
        for i, record in enumerate(fmt.decode(schema, body).table.to_pylist()):
            if (obj.page, i) not in repeats:
                records.append((position, record))
            position += 1
    return records


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


@dataclass(frozen=True)
class Checked:
    manifest: dict
    quarantined: list[tuple[int, str, str]]  # (record position, raw text, reason) as in raw.quarantine


def check_partition(warehouse, truth: dict, load) -> Checked:
    """The partition of ``truth`` (the ``truth`` fixture's answer) after extraction and ``load`` (the
    result of loading it from the raw zone) is exactly the truth: every record as served, in order; the
    rows parsed again from the raw zone and the rows loaded, value for value (numbers as Decimals, the
    rest as canonical text); the malformed records quarantined at their positions, with a reason of
    their kind and their text as served."""
    dataset, province, period = truth["dataset"], truth["province_code"], truth["period"]
    spec, schema = DATASETS[dataset], SCHEMAS[dataset]
    expected, malformed = truth["expected"], {m["position"]: m for m in truth["malformed"]}
    manifest = raw_zone.read_manifest(Partition(dataset=dataset, province_code=province, period=period))
    bodies = stored_pages(manifest)
    style = str(source_for(province, dataset).style)
    assert manifest.source.style == style  # what the pages decode with

    # As served: the truth's records in the truth's order, the malformed ones where the truth says.
    served = served_records(manifest, bodies)
    assert len(served) == len(expected) + len(malformed) == manifest.records_claimed > len(malformed)
    assert manifest.records_distinct == manifest.records_claimed
    wanted = iter(expected)
    for position, (_, record) in enumerate(served):
        if position in malformed:
            if malformed[position]["kind"] not in KEY_BREAKING:
                assert record[schema.key[0]] == malformed[position]["key"], position
            continue
        want = next(wanted)
        for f in schema.fields:
            assert _normal(f.kind, record[f.name]) == _normal(f.kind, want[f.name]), (position, f.name, record, want)

    # Parsed again from the raw zone, and as loaded: the valid records' values, key by key.
    parsed = parse_partition(spec, manifest, bodies)
    aliases = ALIASES.get(dataset, {})
    columns = {c: aliases.get(c, c) for c in parsed.rows.column_names if aliases.get(c, c) in schema.names}
    unmapped = [k for k in schema.key if k not in columns.values()]
    assert not unmapped, f"parsed {dataset} rows lack its key {unmapped}: map the columns in ALIASES"
    assert set(columns.values()) - set(schema.key), f"only {dataset}'s key is compared: map its columns in ALIASES"
    want = _by_key(schema, [{c: r[f] for c, f in columns.items()} for r in expected], columns)
    assert parsed.rows_loaded == load.rows_loaded == len(expected)
    assert _by_key(schema, parsed.rows.to_pylist(), columns) == want
    loaded = warehouse.execute(
        f"SELECT {', '.join(columns)} FROM {spec.table} WHERE {spec.partition_predicate}", (province, period)
    ).fetchall()
    assert _by_key(schema, [dict(zip(columns, row, strict=True)) for row in loaded], columns) == want

    # Quarantined, by the load as by the replay: each malformed record at its position as served.
    quarantined = warehouse.execute(
        "SELECT record_position, raw_text, reason FROM raw.quarantine"
        " WHERE dataset = %s AND province_code = %s AND period = %s ORDER BY record_position",
        (dataset, province, period),
    ).fetchall()
    assert load.rows_quarantined == len(malformed)
    assert sorted((r.record_position, r.raw_text, r.reason) for r in parsed.rejects) == quarantined
    assert [q[0] for q in quarantined] == sorted(served[p][0] for p in malformed)
    for (_, raw_text, reason), position in zip(quarantined, sorted(malformed), strict=True):
        bad = malformed[position]
        assert re.search(REASONS[bad["kind"]], reason), (bad, reason)
        if bad["kind"] not in KEY_BREAKING and style != "nbs_easyquery":  # NBS serves indicator codes, not keys
            assert str(bad["key"]) in raw_text, (bad, raw_text)
    return Checked(manifest, quarantined)


def forbid_decoding_at_load(monkeypatch) -> None:
    """A load that decodes a page instead of taking the extraction's decoded pages fails (a reject's
    raw text is still read from its page)."""
    from ibdc import pipeline

    def decoded_again(*args, **kwargs):
        raise AssertionError("the load decoded the page instead of taking the decoded pages")
        yield  # a generator, as parse_page_file is

    monkeypatch.setattr(pipeline, "parse_page_file", decoded_again)
