"""Style ``nbs_easyquery``: the National Bureau of Statistics' easyquery API (data.stats.gov.cn).

Request: ``GET easyquery.htm?m=QueryData&dbcode=<db>&rowcode=zb&colcode=sj&wds=[{"wdcode":"reg",
"valuecode":"<adcode>"}]&dfwds=[{"wdcode":"sj","valuecode":"<yyyymm | yyyymmdd>"}]&k1=<ms>``; the
whole partition comes in one response (no paging). ``dbcode`` names the dataset (:data:`DBCODES`).

Response: ``{"returncode": 200, "returndata": {"datanodes": [...], "wdnodes": [...], "hasdatacount": n,
"recordcount": N}}``; a failed query answers ``{"returncode": 501, "returndata": "<message>"}``.

How canonical records map to datanodes (one rule for every dataset, driven by the schema):

- Three dimensions (``wdcode``), as NBS has them: ``zb`` the indicator, ``reg`` the province, ``sj``
  the period (``yyyymm`` monthly, ``yyyymmdd`` daily). NBS holds one value per (indicator, region,
  period); a provincial dataset holds many records per partition (products, divisions, enterprises,
  device-hours), each with several fields, so an indicator is one field of one record:
  ``<field>.<record>``, as ``current_month.crude_steel`` (this month's crude steel output).
- ``wdnodes`` lists the two parts: under ``zb`` every field (its contract name as ``code``, ``cname``
  its Chinese heading, ``unit`` its publication unit), so a renamed field arrives as an unknown one
  and the contract's is missing (:class:`~ibdc.formats.base.SchemaDrift`), even in a partition with no
  record; under ``rec`` (名录) the records in the order served, each ``code`` the record's key
  (``/``-joined: ``crude_steel``, ``DEV-1/2025-06-03T05:00:00Z``), or its number 1, 2, ... when the
  keys are not all there and distinct (a renamed or broken key field).
- One datanode per (record, field), keyed ``zb.<field>.<record>_reg.<adcode>_sj.<period>`` with the
  same dimensions in its ``wds``: ``{"data": 12.5, "dotcount": 2, "hasdata": true, "strdata":
  "12.50"}``. ``strdata`` is the value's canonical text and is what the decoder reads; ``data`` is the
  number for numeric fields (1/0 for booleans) and ``null`` for text and for a malformed number
  (``hasdata`` true, ``strdata`` ``"12O,5x"``). A missing value is ``hasdata`` false, ``data`` 0,
  ``strdata`` "" (as NBS serves it).
- ``recordcount`` is the number of records the source holds for the query (reconciliation);
  ``hasdatacount`` the number of datanodes with data (as NBS counts it).

For ``industrial_output`` a record reads: ``zb.current_month.crude_steel_reg.140000_sj.202506`` ->
12.5, ``zb.product_code.crude_steel_reg.140000_sj.202506`` -> ``crude_steel``, and so on for its 7
fields.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

import pyarrow as pa

from ibdc.formats.base import DecodedPage, DecodeError, check_fields, table_from_records
from ibdc.schemas import Cadence, Kind, RecordSchema

# dataset -> easyquery database (NBS: fsyd = 分省月度, provincial monthly; the rest follow its pattern).
DBCODES = {
    "industrial_output": "fsyd",
    "electricity_consumption": "fsyddl",  # 分省月度 电力
    "enterprises": "fsydqy",  # 分省月度 企业名录
    "equipment_telemetry": "fsrdsb",  # 分省日度 设备
}
DIMENSIONS = ("zb", "reg", "sj")
DIMENSION_NAMES = {"zb": "指标", "reg": "地区", "sj": "时间", "rec": "名录"}
NUMERIC = (Kind.DECIMAL, Kind.INT)
OK = 200
ERROR = 501


class EasyqueryError(DecodeError):
    """The source answered a ``returncode`` other than 200 (its ``returndata`` says why)."""

    def __init__(self, returncode: object, message: object) -> None:
        super().__init__(f"easyquery returncode {returncode}: {message}")
        self.returncode = returncode
        self.message = message


def dataset_of(dbcode: str) -> str | None:
    return next((d for d, code in DBCODES.items() if code == dbcode), None)


def wire_period(period: str) -> str:
    """``2025-06`` -> ``202506``; ``2025-06-03`` -> ``20250603``."""
    if not re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", period):
        raise ValueError(f"not a period: {period!r}")
    return period.replace("-", "")


def canonical_period(sj: str, cadence: Cadence) -> str:
    """``202506`` -> ``2025-06`` (monthly); ``20250603`` -> ``2025-06-03`` (daily)."""
    digits = 6 if cadence is Cadence.MONTHLY else 8
    if not re.fullmatch(rf"\d{{{digits}}}", sj or ""):
        raise ValueError(f"sj must be {'yyyymm' if digits == 6 else 'yyyymmdd'} for {cadence} data, got {sj!r}")
    return f"{sj[:4]}-{sj[4:6]}" if digits == 6 else f"{sj[:4]}-{sj[4:6]}-{sj[6:]}"


def _period_name(sj: str) -> str:
    return f"{sj[:4]}年{int(sj[4:6])}月" + (f"{int(sj[6:])}日" if len(sj) == 8 else "")


def error_body(message: str, returncode: int = ERROR) -> bytes:
    return json.dumps({"returncode": returncode, "returndata": message}, ensure_ascii=False).encode()


def _cell(kind: Kind | None, value: str | None) -> dict:
    if value is None:
        return {"data": 0, "dotcount": 0, "hasdata": False, "strdata": ""}
    data: int | float | None = None
    dotcount = 0
    if kind in NUMERIC:
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite():
            exponent = number.as_tuple().exponent
            dotcount = -exponent if isinstance(exponent, int) and exponent < 0 else 0
            data = int(number) if number == number.to_integral_value() and not dotcount else float(number)
    elif kind is Kind.BOOL and value in ("true", "false"):
        data = int(value == "true")
    return {"data": data, "dotcount": dotcount, "hasdata": True, "strdata": value}


def _record_codes(schema: RecordSchema, rows: list[dict], names: list[str]) -> list[str]:
    """Each record's code: its key, ``/``-joined; the numbers 1, 2, ... unless every record has its
    whole key and no two the same."""
    if all(k in names for k in schema.key):
        keys = ["/".join(str(row[k]) for k in schema.key) for row in rows]
        if all(all(row[k] is not None for k in schema.key) for row in rows) and len(set(keys)) == len(keys):
            return keys
    return [str(n) for n in range(1, len(rows) + 1)]


def encode(
    schema: RecordSchema,
    table: pa.Table,
    region: str,
    period: str,
    region_name: str | None = None,
    recordcount: int | None = None,
) -> bytes:
    """The whole partition; ``table`` has the served (maybe drifted) canonical column names.
    ``recordcount`` is the records claimed (default: the table's)."""
    sj = wire_period(period)
    fields = {f.name: f for f in schema.fields}
    names = table.column_names
    rows = table.to_pylist()
    recs = _record_codes(schema, rows, names)
    datanodes, hasdata = [], 0
    rec_nodes = []
    for rec, row in zip(recs, rows, strict=True):
        rec_nodes.append({"code": rec, "cname": rec})
        for name in names:
            field = fields.get(name)
            cell = _cell(field.kind if field else None, row[name])
            hasdata += cell["hasdata"]
            dims = {"zb": f"{name}.{rec}", "reg": region, "sj": sj}
            datanodes.append(
                {
                    "code": "_".join(f"{d}.{v}" for d, v in dims.items()),
                    "data": cell,
                    "wds": [{"wdcode": d, "valuecode": v} for d, v in dims.items()],
                }
            )
    indicators = [
        {
            "code": name,
            "cname": fields[name].label_zh if name in fields else name,
            "unit": (fields[name].unit or "") if name in fields else "",
        }
        for name in names
    ]
    wdnodes = [
        {"wdcode": "zb", "wdname": DIMENSION_NAMES["zb"], "nodes": indicators},
        {
            "wdcode": "reg",
            "wdname": DIMENSION_NAMES["reg"],
            "nodes": [{"code": region, "cname": region_name or region}],
        },
        {"wdcode": "sj", "wdname": DIMENSION_NAMES["sj"], "nodes": [{"code": sj, "cname": _period_name(sj)}]},
        {"wdcode": "rec", "wdname": DIMENSION_NAMES["rec"], "nodes": rec_nodes},
    ]
    doc = {
        "returncode": OK,
        "returndata": {
            "datanodes": datanodes,
            "wdnodes": wdnodes,
            "hasdatacount": hasdata,
            "recordcount": table.num_rows if recordcount is None else recordcount,
        },
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def refusal_of(body: bytes) -> EasyqueryError | None:
    """The portal's refusal (a ``returncode`` other than 200) in a complete response, else None;
    raises :class:`DecodeError` for a body that is not a complete response."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise DecodeError(f"not a complete easyquery response: {exc}") from exc
    if isinstance(doc, dict) and "returncode" in doc and doc["returncode"] != OK:
        return EasyqueryError(doc["returncode"], doc.get("returndata"))
    return None


def _structure(body: bytes) -> tuple[list[str], list[str], dict[tuple[str, str], str | None], dict[str, list], int]:
    """Indicators, records, cells by (record, indicator), datanodes by record, claimed record count."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise DecodeError(f"not a complete easyquery response: {exc}") from exc
    if not isinstance(doc, dict) or "returncode" not in doc:
        raise DecodeError("not an easyquery response: no returncode")
    if doc["returncode"] != OK:
        raise EasyqueryError(doc["returncode"], doc.get("returndata"))
    try:
        data = doc["returndata"]
        total = data["recordcount"]
        if isinstance(total, bool) or not isinstance(total, int):
            raise TypeError(f"recordcount is not an integer: {total!r}")
        wdnodes = {w["wdcode"]: [n["code"] for n in w["nodes"]] for w in data["wdnodes"]}
        indicators, records = wdnodes["zb"], wdnodes["rec"]
        if len(set(indicators)) != len(indicators) or len(set(records)) != len(records):
            raise ValueError("an indicator or record is listed twice in wdnodes")
        known_indicators, known_records = set(indicators), set(records)
        cells: dict[tuple[str, str], str | None] = {}
        by_record: dict[str, list] = {r: [] for r in records}
        partitions = set()
        for node in data["datanodes"]:
            wds = [(w["wdcode"], w["valuecode"]) for w in node["wds"]]
            dims = dict(wds)
            if [d for d, _ in wds] != list(DIMENSIONS) or not all(isinstance(v, str) for v in dims.values()):
                raise ValueError(f"datanode dimensions are not {DIMENSIONS}: {node['wds']}")
            if node["code"] != "_".join(f"{d}.{v}" for d, v in wds):
                raise ValueError(f"datanode code {node['code']!r} does not match its dimensions")
            zb, _, rec = dims["zb"].partition(".")  # field names hold no "."
            if zb not in known_indicators or rec not in known_records:
                raise ValueError(f"datanode {node['code']!r} is for an indicator or record not in wdnodes")
            if (rec, zb) in cells:
                raise ValueError(f"datanode {node['code']!r} served twice")
            cell = node["data"]
            if not isinstance(cell["hasdata"], bool) or not isinstance(cell["strdata"], str):
                raise TypeError(f"datanode {node['code']!r}: hasdata / strdata malformed")
            cells[(rec, zb)] = cell["strdata"] if cell["hasdata"] else None
            by_record[rec].append(node)
            partitions.add((dims["reg"], dims["sj"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DecodeError(f"not a complete easyquery response: {exc!r}") from exc
    if len(partitions) > 1:
        raise DecodeError(f"one response holds several regions or periods: {sorted(partitions)}")
    if len(cells) != len(indicators) * len(records):
        missing = next((r, z) for r in records for z in indicators if (r, z) not in cells)
        raise DecodeError(
            f"{len(indicators) * len(records) - len(cells)} datanodes missing (first: record {missing[0]}, "
            f"indicator {missing[1]})"
        )
    return indicators, records, cells, by_record, total


def decode(schema: RecordSchema, body: bytes) -> DecodedPage:
    indicators, records, cells, by_record, total = _structure(body)
    check_fields(schema, indicators)  # even when the partition holds no record
    rows = [{zb: cells[(rec, zb)] for zb in indicators} for rec in records]
    table = table_from_records(schema, rows)
    return DecodedPage(
        table, lambda i: json.dumps(by_record[records[i]], ensure_ascii=False, separators=(",", ":")), total
    )
