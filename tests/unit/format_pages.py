"""Pages of every JSON style built from record texts, so that a test can put into one record what a
hostile or broken portal serves (a key twice, ``NaN``, nesting thousands deep) and keep the rest of the
page valid; and a valid page of each style with its records as JSON texts."""

import json

from ibdc.formats import app_key, jsonp, rest_json, signed_gateway
from ibdc.formats.base import table_from_records
from ibdc.schemas import SCHEMAS
from tests.unit.format_helpers import APP_KEY_SAMPLES, SERVED, SIGNED_GATEWAY_SAMPLES, kinds_table

JSON_STYLES = ("rest_json", "app_key", "signed_gateway", "jsonp")
DATASET = "industrial_output"


def _encoded(style: str, dataset: str = DATASET) -> bytes:
    schema = SCHEMAS[dataset]
    if style == "rest_json":
        return rest_json.encode(schema, kinds_table(schema), 41, 20, 10)
    if style == "app_key":
        return app_key.encode(schema, table_from_records(schema, APP_KEY_SAMPLES[dataset]), 41, 2)
    if style == "signed_gateway":
        return signed_gateway.encode(schema, table_from_records(schema, SIGNED_GATEWAY_SAMPLES[dataset]), 41)
    return jsonp.encode(schema, kinds_table(schema), 41, 3, 4, "cb")


def record_texts(style: str, dataset: str = DATASET) -> list[str]:
    """The records of a valid page of ``style``, each as its JSON text (keys as the style serves them)."""
    return [json.dumps(r, ensure_ascii=False) for r in SERVED[style](_encoded(style, dataset))]


def page(style: str, records: list[str], total: str = "41", envelope_extra: str = "") -> bytes:
    """A page of ``style`` holding ``records`` (JSON texts, put in as they are); ``total`` the count's
    JSON text; ``envelope_extra`` a member (``"k": v, ``) put first in the page's outer object."""
    items = "[" + ", ".join(records) + "]"
    if style == "rest_json":
        doc = f'{{{envelope_extra}"total": {total}, "offset": 0, "limit": 10, "items": {items}}}'
    elif style == "app_key":
        data = f'{{"total": {total}, "page": 1, "rows": {items}}}'
        doc = f'{{{envelope_extra}"code": "00000", "msg": "success", "data": {data}}}'
    elif style == "jsonp":
        doc = f'cb({{{envelope_extra}"totalCount": {total}, "pageNo": 1, "pageSize": 10, "list": {items}}});'
    else:
        inner = (
            f'{{"code": "0000", "message": "ok", "total": {total}, "data": {json.dumps(items, ensure_ascii=False)}}}'
        )
        doc = f'{{{envelope_extra}"status": 200, "result": {json.dumps(inner, ensure_ascii=False)}}}'
    return doc.encode()


def with_member(record: str, member: str) -> str:
    """A record's JSON text with ``member`` (``"k": v``) put first."""
    return "{" + member + ", " + record[1:]
