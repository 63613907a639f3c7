"""What every wire format of a provincial portal shares, for every style and schema: encoding then
decoding gives the records back exactly, each with its raw text as served; an empty page is no records
with the contract's columns; a page cut short anywhere is a decode error; a renamed field is schema
drift naming both names; a body that is not JSON is a decode error, and JSON that is not a page a
layout error. Golden bodies and each style's own conventions are tested in
``test_format_<style>.py``."""

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pytest

from ibdc.errors import LayoutError
from ibdc.formats import (
    SchemaDrift,
    app_key,
    csv_download,
    format_for,
    jsonp,
    rest_json,
    signed_gateway,
)
from ibdc.formats.base import DecodeError, canonical_values, table_from_records
from ibdc.schemas import SCHEMAS, Cadence, RecordSchema
from ibdc.sources.registry import ApiStyle
from tests.unit.format_helpers import (
    APP_KEY_SAMPLES,
    SERVED,
    SIGNED_GATEWAY_SAMPLES,
    as_served,
    csv_records,
    in_signed_gateway_envelope,
    kinds_table,
)


def _period(schema: RecordSchema) -> str:
    return "2025-06" if schema.cadence is Cadence.MONTHLY else "2025-06-03"


@dataclass(frozen=True)
class Wire:
    style: str
    encode: Callable[[RecordSchema, pa.Table], bytes]  # one page of the table
    sample: Callable[[RecordSchema], pa.Table]  # the records the style's tests were written with
    total: int | None  # what the page claims the partition holds; None: the records it has
    tail: int = 0  # bytes a whole body may end without: jsonp's ";"


def _records(samples: dict[str, list[dict]]) -> Callable[[RecordSchema], pa.Table]:
    return lambda schema: table_from_records(schema, samples[schema.dataset])


def _csv(encoding: str) -> Wire:
    return Wire(
        "csv_download",
        lambda s, t: csv_download.encode(s, t, encoding),
        lambda s: table_from_records(s, csv_records(s)),
        None,
    )


# A page of each style, as a portal of the style serves it: wire name -> how to encode it, what with.
WIRES = {
    "rest_json": Wire("rest_json", lambda s, t: rest_json.encode(s, t, 41, 20, 10), kinds_table, 41),
    "app_key": Wire("app_key", lambda s, t: app_key.encode(s, t, 41, 2), _records(APP_KEY_SAMPLES), 41),
    "signed_gateway": Wire(
        "signed_gateway", lambda s, t: signed_gateway.encode(s, t, 41), _records(SIGNED_GATEWAY_SAMPLES), 41
    ),
    "jsonp": Wire("jsonp", lambda s, t: jsonp.encode(s, t, 40, 3, 4, "cb_$1"), kinds_table, 40, tail=1),
    "csv_download-gbk": _csv("gbk"),
    "csv_download-gb18030": _csv("gb18030"),
}
# nbs_easyquery carries industrial output only, one cell per indicator: its own tests
# (test_format_nbs_easyquery.py) hold what these hold for the others.
every_wire = pytest.mark.parametrize("wire", list(WIRES))
every_schema = pytest.mark.parametrize("dataset", sorted(SCHEMAS))


def test_every_style_has_its_wire_format():
    for style in ApiStyle:
        assert format_for(str(style)).__name__ == f"ibdc.formats.{style}"
    assert {w.style for w in WIRES.values()} | {"nbs_easyquery"} == {str(s) for s in ApiStyle}
    with pytest.raises(ValueError, match="unknown API style"):
        format_for("soap")


@every_schema
@every_wire
def test_encode_decode_round_trip_is_exact(wire, dataset):
    w, schema = WIRES[wire], SCHEMAS[dataset]
    table = w.sample(schema)
    body = w.encode(schema, table)
    page = format_for(w.style).decode(schema, body)
    # Exact, but for a timestamp served with an offset, which decodes to its one canonical UTC text.
    expected = pa.table(canonical_values(schema, dict(zip(table.column_names, table.columns, strict=True))))
    assert page.table.equals(expected), (page.table.to_pylist(), expected.to_pylist())
    assert (page.total, page.num_records) == (table.num_rows if w.total is None else w.total, table.num_rows)
    assert [as_served(w.style, page.raw_text(i)) for i in range(page.num_records)] == SERVED[w.style](body)


@every_schema
@every_wire
def test_an_empty_page_decodes_to_no_records_with_the_contract_columns(wire, dataset):
    w, schema = WIRES[wire], SCHEMAS[dataset]
    page = format_for(w.style).decode(schema, w.encode(schema, w.sample(schema).slice(0, 0)))
    assert page.num_records == 0 and page.total == (w.total or 0)
    assert page.table.column_names == list(schema.names)


@pytest.mark.parametrize("wire", [w for w in WIRES if WIRES[w].style != "csv_download"])  # CSV: its own test
def test_every_truncation_of_a_page_raises_decode_error(wire):
    w, schema = WIRES[wire], SCHEMAS["industrial_output"]
    table = w.sample(schema)
    body = w.encode(schema, table)
    fmt = format_for(w.style)
    assert fmt.decode(schema, body[: len(body) - w.tail]).table.equals(table)
    for cut in range(len(body) - w.tail):
        with pytest.raises(DecodeError):
            fmt.decode(schema, body[:cut])


@every_schema
@pytest.mark.parametrize("wire", [w for w in WIRES if WIRES[w].style != "csv_download"])  # CSV: its own test
def test_a_renamed_field_is_schema_drift_naming_both_names(wire, dataset):
    w, schema = WIRES[wire], SCHEMAS[dataset]
    renamed = schema.names[-1]
    table = w.sample(schema)
    table = table.rename_columns([f"{n}_v2" if n == renamed else n for n in table.column_names])
    with pytest.raises(SchemaDrift, match=rf"missing from the source: \['{renamed}'\].*'{renamed}_v2'"):
        format_for(w.style).decode(schema, w.encode(schema, table))


@pytest.mark.parametrize("items", ["[1]", '"x"', "null", '[{"product_code": "crude_steel"}, []]'])
def test_a_rest_json_page_whose_items_are_not_records_is_a_layout_error(items):
    """A whole JSON body that is not a page: fetching it again gives the same (permanent, not a cut page)."""
    body = f'{{"total": 1, "offset": 0, "limit": 10, "items": {items}}}'.encode()
    with pytest.raises(LayoutError, match="items is not a list of objects") as err:
        rest_json.decode(SCHEMAS["industrial_output"], body)
    assert not isinstance(err.value, DecodeError)


@pytest.mark.parametrize("style", ["app_key", "signed_gateway"])
@pytest.mark.parametrize("body", [b"<html><body>502 Bad Gateway</body></html>", b"\xff\xfe\x00garbage"])
def test_a_body_that_is_not_json_raises_decode_error(style, body):
    with pytest.raises(DecodeError):  # transient: fetch_page fetches the page again
        format_for(style).decode(SCHEMAS["industrial_output"], body)


# Per style, whole JSON bodies that are not one of its pages.
NOT_A_PAGE = {
    "app_key": [
        b"[]",
        b'{"code": "00000", "msg": "success", "data": null}',
        b'{"code": "00000", "msg": "success", "data": {"total": "many", "page": 1, "rows": []}}',
        b'{"code": "00000", "msg": "success", "data": {"total": 1, "page": 1, "rows": ["x"]}}',
        b'{"msg": "success", "rows": []}',
    ],
    "signed_gateway": [
        b"[]",
        in_signed_gateway_envelope(
            '{"code": "0000", "message": "ok", "total": 1, "data": "[{\\"productCode\\": '
        ),  # inner not JSON
        in_signed_gateway_envelope(
            '{"code": "0000", "message": "ok", "total": 1, "data": "[{\\"productCode\\": 1'
        ),  # data not JSON
        in_signed_gateway_envelope(
            '{"code": "0000", "message": "ok", "total": 1, "data": [{"productCode": "x"}]}'
        ),  # not a string
        in_signed_gateway_envelope('{"code": "0000", "message": "ok", "total": 1, "data": "[1, 2]"}'),
        in_signed_gateway_envelope('{"code": "0000", "message": "ok", "data": "[]"}'),
        b'{"status": 200}',
    ],
}


@pytest.mark.parametrize(("style", "body"), [(style, body) for style, bodies in NOT_A_PAGE.items() for body in bodies])
def test_json_that_is_not_a_page_raises_layout_error_not_decode_error(style, body):
    """The body decodes (its JSON, the outer JSON of signed_gateway's, is whole): fetching it again gives
    the same, so it is permanent."""
    with pytest.raises(LayoutError) as err:
        format_for(style).decode(SCHEMAS["industrial_output"], body)
    assert not isinstance(err.value, DecodeError)
    if style == "app_key":
        assert body.decode()[:30] in str(err.value)  # the answer itself is in the message
