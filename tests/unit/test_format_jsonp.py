"""The jsonp wire format: callback-wrapped pages decode to canonical records. (What every format shares --
exact round trips, empty pages, truncations, renamed fields -- is tested in test_formats.py.)"""

import json

import pytest

from ibdc.errors import LayoutError
from ibdc.formats import jsonp
from ibdc.formats.base import DecodeError, camel, snake
from ibdc.schemas import INDUSTRIAL_OUTPUT, SCHEMAS, Kind
from tests.unit.format_helpers import kinds_table

GOLDEN = (
    'jQuery1124_1750000000000 ({"totalCount": 12, "pageNo": 2, "pageSize": 2, "list": [\n'
    ' {"provinceCode": "140000", "period": "2025-06", "productCode": "crude_steel", "productName": "粗钢",'
    ' "unit": "10k_tonnes", "currentMonth": 527.40, "cumulative": 2793.74},\n'
    ' {"provinceCode": "140000", "period": "2025-06", "productCode": "cement", "productName": "水泥",'
    ' "unit": "10k_tonnes", "currentMonth": "12O,5x", "cumulative": 1030}\n'
    "]})  ;\n"
).encode()


def test_golden_page_decodes_to_canonical_records():
    page = jsonp.decode(INDUSTRIAL_OUTPUT, GOLDEN)
    assert page.total == 12
    assert page.table.column_names == list(INDUSTRIAL_OUTPUT.names)
    assert page.table.to_pylist() == [
        {
            "province_code": "140000",
            "period": "2025-06",
            "product_code": "crude_steel",
            "product_name": "粗钢",
            "unit": "10k_tonnes",
            "current_month": "527.40",  # the digits as served, trailing zero included
            "cumulative": "2793.74",
        },
        {
            "province_code": "140000",
            "period": "2025-06",
            "product_code": "cement",
            "product_name": "水泥",
            "unit": "10k_tonnes",
            "current_month": "12O,5x",  # a malformed number stays the text it was served as
            "cumulative": "1030",
        },
    ]
    served = json.loads(page.raw_text(1))
    assert served["productCode"] == "cement" and served["currentMonth"] == "12O,5x"
    assert '"currentMonth": 527.40' in page.raw_text(0)  # raw text keeps the served number token


@pytest.mark.parametrize("dataset", sorted(SCHEMAS))
def test_encode_serves_the_documented_wire_form(dataset):
    schema = SCHEMAS[dataset]
    body = jsonp.encode(schema, kinds_table(schema), total=40, page_no=3, page_size=4, callback="cb_$1")
    assert body.startswith(b"cb_$1({") and body.endswith(b"});")
    served = json.loads(jsonp.unwrap(body))
    assert (served["totalCount"], served["pageNo"], served["pageSize"]) == (40, 3, 4)
    first = served["list"][0]
    for f in schema.fields:  # lowerCamelCase names; numbers and booleans as JSON numbers and booleans
        value = first[camel(f.name)]
        if f.kind in (Kind.DECIMAL, Kind.INT):
            assert isinstance(value, int | float) and not isinstance(value, bool)
        elif f.kind is Kind.BOOL:
            assert value is True
        else:
            assert isinstance(value, str)
    if any(f.kind is Kind.TEXT for f in schema.fields if f.name not in schema.key):
        assert "\u2028".encode() not in body  # escaped for JavaScript


def test_field_names_are_lower_camel_case():
    assert camel("fiveg_adopted") == "fivegAdopted" and camel("uscc") == "uscc"
    assert snake("currentMonthV2") == "current_month_v2"
    for schema in SCHEMAS.values():
        assert [snake(camel(n)) for n in schema.names] == list(schema.names)


@pytest.mark.parametrize(
    "wrapper",
    [b"cb(%s)", b"cb(%s);", b"  $jq_2 (\n%s\n) ;\n", b"_(%s)\t"],
)
def test_any_identifier_callback_whitespace_and_optional_semicolon(wrapper):
    doc = json.loads(jsonp.unwrap(GOLDEN))
    body = wrapper.replace(b"%s", json.dumps(doc, ensure_ascii=False).encode())
    assert jsonp.decode(INDUSTRIAL_OUTPUT, body).num_records == 2


@pytest.mark.parametrize(
    "body",
    [
        GOLDEN[: len(GOLDEN) // 2],  # truncated
        GOLDEN[:-5],  # the wrapper's end cut off
        b'alert(1);cb({"totalCount": 0, "list": []});',  # script before the callback
        b'cb({"totalCount": 0, "list": []}); alert(1)',  # script after it
        b'1cb({"totalCount": 0, "list": []});',  # not an identifier
        b'window.cb({"totalCount": 0, "list": []});',  # not a plain identifier
        b'cb({"totalCount": 0, "list": []};',  # unbalanced
        b"",
    ],
)
def test_truncated_or_garbled_pages_raise_decode_error(body):
    with pytest.raises(DecodeError):
        jsonp.decode(INDUSTRIAL_OUTPUT, body)


def test_bare_json_where_a_jsonp_page_belongs_is_a_permanent_layout_error():
    from ibdc.errors import ErrorKind, LayoutError, kind_of

    with pytest.raises(LayoutError, match="plain JSON") as raised:
        jsonp.decode(INDUSTRIAL_OUTPUT, b'{"totalCount": 0, "pageNo": 1, "pageSize": 10, "list": []}')
    assert kind_of(raised.value) is ErrorKind.PERMANENT


@pytest.mark.parametrize(
    "body",
    [
        b'cb({"list": []});',  # no total
        b'cb({"totalCount": "3", "list": []});',
        b'cb({"totalCount": 1, "list": [1]});',
        b'cb({"error": "rate limit exceeded"});',  # an envelope no registry entry declares
    ],
)
def test_a_whole_answer_that_is_not_a_page_raises_layout_error_naming_it(body):
    """Wrapper and JSON whole: fetching it again gives the same (permanent); the answer is in the message."""
    with pytest.raises(LayoutError, match=r"not a jsonp page") as err:
        jsonp.decode(INDUSTRIAL_OUTPUT, body)
    assert not isinstance(err.value, DecodeError)
    assert body.decode()[3:20] in str(err.value)


def test_encode_refuses_a_callback_that_is_not_an_identifier():
    table = kinds_table(INDUSTRIAL_OUTPUT)
    for callback in ("alert(1)//", "a.b", "", "x" * 200, "cb;", "é"):
        with pytest.raises(ValueError):
            jsonp.encode(INDUSTRIAL_OUTPUT, table, 4, 1, 10, callback)
