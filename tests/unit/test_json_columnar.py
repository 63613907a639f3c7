"""The JSON styles' columnar path (``ibdc.formats.jsonread.Columnar``) against their record-by-record
path: for any page, the same table, faults, count, envelope verdict and records' raw text, or the same
error. Pages are generated with what real and hostile portals serve: numbers in every JSON spelling
(``12.50``, ``1e3``, ``-0``, integers past 64 bits), each style's wire forms of dates, times and
booleans, presentation forms, colons written plain and as ``\\u003a``, a key twice, ``NaN``, nested
objects, lone surrogates, missing and extra members."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ibdc.formats import app_key, jsonp, jsonread, rest_json, signed_gateway
from ibdc.formats.envelope import Envelope
from ibdc.schemas import SCHEMAS
from tests.unit.format_pages import page, record_texts

STYLES = {"rest_json": rest_json, "app_key": app_key, "signed_gateway": signed_gateway, "jsonp": jsonp}
DATASETS = ("equipment_telemetry", "industrial_output", "enterprises")

NUMBERS = ["12.50", "1e3", "1E+5", "-0.0", "0", "7", "-5", "2026", "20250601", "202506", "20250603140000"]
NUMBERS += ["1748959200000", "1748959200001", "123456789012345678901234567890", "1e99999999", "0.1"]
WIRE_STRINGS = ["20250601", "202506", "20250603140000", "1", "0", "true", "12,345.67", "１２，３４５．６７", " 12 "]
WIRE_STRINGS += ["2026-10-01T05:00:00Z", "2026-10-01T13:00:00+08:00", "2025-06", "2025-06-01", "12O,5x", "x:y"]
WIRE_STRINGS += ["91110000600037341L", "DEV-0001", "E101", ""]
ODD = ["NaN", "Infinity", '{"a": 1}', "[1, 2]", '"a\\u003ab"', '"\\ud800"', '"tab\there"', "-0", "-0 "]

served_value = st.one_of(
    st.sampled_from(NUMBERS),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(WIRE_STRINGS).map(lambda v: json.dumps(v, ensure_ascii=False)),
    st.text(max_size=12).map(lambda v: json.dumps(v, ensure_ascii=False)),
    st.sampled_from(["true", "false", "null"]),
)
# What sends a page record by record, rarely: most pages must exercise the columnar path itself.
value_text = st.integers(min_value=0, max_value=199).flatmap(lambda i: st.sampled_from(ODD) if i < 2 else served_value)


@st.composite
def records(draw, wire_names: list[str]) -> list[str]:
    """Record texts keyed by ``wire_names``; now and then a member missing, extra, or twice."""
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        members = [f"{json.dumps(k)}: {draw(value_text)}" for k in wire_names]
        change = draw(st.sampled_from(["none"] * 30 + ["twice", "missing", "extra", "reordered", "empty"]))
        if change == "reordered":  # members in another order than the contract's
            members.reverse()
        elif change == "empty":
            members = []
        elif change == "twice":
            members.append(f"{json.dumps(draw(st.sampled_from(wire_names)))}: {draw(value_text)}")
        elif change == "missing" and members:
            members.pop(draw(st.integers(min_value=0, max_value=len(members) - 1)))
        elif change == "extra":
            members.append(f'"unexpected": {draw(value_text)}')
        out.append("{" + ", ".join(members) + "}")
    return out


def _outcome(module, schema, body: bytes, columnar: bool):
    """What ``module.decode`` gives (table, faults, total, verdict, raw texts), or the error it raises."""
    saved = module.COLUMNAR
    module.COLUMNAR = saved if columnar else None
    try:
        decoded = module.decode(schema, body)
    except Exception as exc:  # the two paths must fail alike
        return ("error", type(exc), str(exc))
    finally:
        module.COLUMNAR = saved
    raw = [decoded.raw_text(i) for i in range(decoded.num_records)]
    return (decoded.table.to_pydict(), dict(decoded.faults), decoded.total, decoded.verdict, raw)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("dataset", DATASETS)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_columnar_path_reads_every_page_as_the_record_by_record_path(style, dataset, data):
    module, schema = STYLES[style], SCHEMAS[dataset]
    wire_names = [module.COLUMNAR.wire_name(n) for n in schema.names]
    body = page(style, data.draw(records(wire_names)), total=data.draw(st.sampled_from(["3", '"3"', "3.0"])))
    assert _outcome(module, schema, body, columnar=True) == _outcome(module, schema, body, columnar=False)


@pytest.mark.parametrize("style", STYLES)
def test_a_province_day_of_telemetry_is_read_column_by_column(style, monkeypatch):
    """The simulator's pages of every style take the columnar path, none falls back."""
    from ibdc_dev.simulator.telemetry import telemetry_table

    schema = SCHEMAS["equipment_telemetry"]
    table = telemetry_table(7, "110000", date(2026, 10, 1), 200, malformed_every=5).select(list(schema.names))
    body = {
        "rest_json": lambda: rest_json.encode(schema, table, table.num_rows, 0, table.num_rows),
        "app_key": lambda: app_key.encode(schema, table, table.num_rows, 1),
        "signed_gateway": lambda: signed_gateway.encode(schema, table, table.num_rows),
        "jsonp": lambda: jsonp.encode(schema, table, table.num_rows, 1, table.num_rows, "cb"),
    }[style]()
    read, results = jsonread.Columnar.read, []
    monkeypatch.setattr(jsonread.Columnar, "read", lambda self, *a: results.append(read(self, *a)) or results[-1])
    decoded = STYLES[style].decode(schema, body)
    assert decoded.num_records == table.num_rows == 4800
    assert len(results) == 1 and results[0] is not None, "read record by record"
    assert decoded.table.column("ts").to_pylist() == table.column("ts").to_pylist()


def _record(**changed: str) -> str:
    """A telemetry record's JSON text, every member a valid value, ``changed`` ones written as given."""
    values = {name: '"x"' for name in SCHEMAS["equipment_telemetry"].names} | changed
    return "{" + ", ".join(f'"{name}": {value}' for name, value in values.items()) + "}"


@pytest.mark.parametrize(
    ("records_text", "why"),
    [
        (_record()[:-1] + ', "device_id": "y"}', "a key twice"),
        (_record(fault_code='"x:y"')[:-1] + ', "device_id": "y"}', "a key twice beside a colon in a string"),
        ('{"device_id\\u003a": 1, ' + _record()[1:-1] + ', "device_id": "y"}', "a colon escaped hiding a key twice"),
        (_record(runtime_min="-0"), "-0"),
        (_record(runtime_min="NaN"), "NaN"),
        (_record(runtime_min='{"b": 1}'), "a nested object"),
        (_record()[:-1] + ', "unexpected": 1}', "a member beyond the contract's"),
        ("[" + _record()[1:-1] + "]", "a record not an object"),
    ],
)
def test_what_the_columnar_path_leaves_to_the_record_by_record_path(records_text, why):
    columnar = jsonread.Columnar(wire_name=str, value=lambda kind, value: value)
    schema = SCHEMAS["equipment_telemetry"]
    valid = f'{{"items": [{_record()}, {_record(runtime_min="0")}]}}'.encode()
    assert columnar.read(schema, valid, ("items",)) is not None, "a valid page is read column by column"
    body = f'{{"items": [{_record()}, {records_text}]}}'.encode()
    assert columnar.read(schema, body, ("items",)) is None, why


@pytest.mark.parametrize("style", ["rest_json", "app_key", "jsonp"])  # signed_gateway's levels are JSON text
@pytest.mark.parametrize(
    "envelope_extra",
    [
        '"items": [], "rows": [], "list": [], "data": {"rows": []}, ',  # the records' member twice
        '"meta": {"a": [1, {"b": null}], "c:d": "e:f"}, ',
        '"x": 1, "x": 2, ',
        '"x": 1.50e3, "y": -0, ',
    ],
)
def test_the_members_around_the_records_read_alike_on_both_paths(style, envelope_extra):
    """The levels above the records (decoded member by member on the columnar path): a member written
    twice, nested members, numbers in every spelling: the same outcome as the record-by-record path."""
    module, schema = STYLES[style], SCHEMAS["industrial_output"]
    body = page(style, record_texts(style), envelope_extra=envelope_extra)
    assert _outcome(module, schema, body, columnar=True) == _outcome(module, schema, body, columnar=False)


def test_most_generated_pages_take_the_columnar_path(monkeypatch):
    """The property test above would pass with a columnar path that always declined: valid pages of
    every style and dataset must be read column by column."""
    read, results = jsonread.Columnar.read, []
    monkeypatch.setattr(jsonread.Columnar, "read", lambda self, *a: results.append(read(self, *a)) or results[-1])
    for style, module in STYLES.items():
        for dataset in DATASETS:
            module.decode(SCHEMAS[dataset], page(style, record_texts(style, dataset)))
    assert len(results) == len(STYLES) * len(DATASETS) and all(r is not None for r in results)


@pytest.mark.parametrize("style", ["rest_json", "app_key", "jsonp"])  # signed_gateway's envelope is outside
def test_an_envelopes_message_keeps_its_numbers_as_served_on_both_paths(style, monkeypatch):
    """A portal's message that is an object holding numbers (a refusal telling the quota used): its
    text is the same on both paths, every number written as served (``1.50`` unquoted, not ``"1.50"``)."""
    module, schema = STYLES[style], SCHEMAS["industrial_output"]
    read, columnar_reads = jsonread.Columnar.read, []

    def spy(self, *args):
        columnar_reads.append(result := read(self, *args))
        return result

    monkeypatch.setattr(jsonread.Columnar, "read", spy)
    refusal = '"state": 7, "note": {"used": 1.50, "quota": 2, "ratio": -0.5e1}, '
    body = page(style, record_texts(style), envelope_extra=refusal)
    envelopes = (Envelope(code="state", message="note", success=("0",)),)
    verdicts = []
    for columnar in (True, False):
        saved = module.COLUMNAR
        module.COLUMNAR = saved if columnar else None
        try:
            verdicts.append(module.decode(schema, body, envelopes).verdict)
        finally:
            module.COLUMNAR = saved
    assert columnar_reads and columnar_reads[0] is not None  # the columnar path read the page itself
    assert verdicts[0] == verdicts[1]
    assert verdicts[0].message == '{"used": 1.50, "quota": 2, "ratio": -0.5e1}'
