"""Style ``nbs_easyquery``: the National Bureau of Statistics' easyquery API (data.stats.gov.cn), as
it really answers (see the README's sources section for the conventions followed).

NBS publishes statistics only: of the platform's datasets, monthly industrial output by province
(database ``fsyd``, 分省月度). There is no NBS database for electricity by industry, enterprise
registries or device telemetry: those come from the provincial centres' own portals.

Requests (GET; :func:`query_params`, :func:`tree_params`):

- ``easyquery.htm?m=QueryData&dbcode=fsyd&rowcode=zb&colcode=sj&wds=[{"wdcode":"reg","valuecode":
  "<adcode>"}]&dfwds=[{"wdcode":"zb","valuecode":"<group>"},{"wdcode":"sj","valuecode":"<yyyymm>"}]
  &k1=<ms>``: one product's indicator group (``A020914`` crude steel) for one province and month; the
  answer holds the group's leaf indicators: ``<group>01`` current month (当期值), ``<group>02`` year to
  date (累计值), and maybe others (growth rates) that the platform does not read.
- ``easyquery.htm?m=getTree&dbcode=fsyd&wdcode=zb&id=<parent>``: the children of an indicator group
  (``A0209`` industrial products, ``A0301`` energy), a JSON list of ``{"id", "name", "pid",
  "isParent", "dbcode", "wdcode"}``.

Answer: ``{"returncode": 200, "returndata": {"datanodes": [...], "wdnodes": [...], "hasdatacount": n,
"freshsort": 0}}``. One datanode per (indicator, region, period), keyed ``zb.<code>_reg.<adcode>_sj.
<yyyymm>``, its ``data`` ``{"data": 123.45, "dotcount": 2, "hasdata": true, "strdata": "123.45"}``:
``strdata`` is the published value at its precision (``data`` may carry extra digits and is not
read); a value not published (yet, or ever) is ``hasdata: false``. ``wdnodes`` names each dimension's
values (under ``zb`` each indicator's ``cname`` and ``unit``, 万吨). No record count, no paging.
``{"returncode": 501, "returndata": "<message>"}`` is NBS's "no data matched the query".

Decoding gives one industrial-output record per product with at least one cell published: its
current-month value (missing for January-February, which NBS releases together) and year-to-date.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation

import pyarrow as pa

from ibdc.errors import IbdcError, LayoutError, NotReleased
from ibdc.formats.base import DecodedPage, DecodeError, Number, exact_dumps, table_from_records
from ibdc.formats.envelope import Answer, Envelope, read_document
from ibdc.formats.jsonread import RECORDS, empty_page, json_text, loads, scan
from ibdc.reference import NbsIndicator, nbs_indicators, products
from ibdc.schemas import INDUSTRIAL_OUTPUT, RecordSchema

DBCODE = "fsyd"  # 分省月度: provincial monthly figures
DATASET = "industrial_output"  # the one platform dataset NBS publishes
DIMENSIONS = ("zb", "reg", "sj")
OK = 200
NO_DATA = 501
# The leaf measures of a group: the two the platform reads, and the growth rates it does not.
MEASURES = {"01": ("current_month", "当期值"), "02": ("cumulative", "累计值")}
OTHER_MEASURES = {"03": "同比增长", "04": "累计增长"}


class EasyqueryRefused(LayoutError):
    """A ``returncode`` other than 200 (data) and 501 (no data): the query itself was refused."""


def wire_period(period: str) -> str:
    """``2025-06`` -> ``202506``."""
    if not re.fullmatch(r"\d{4}-\d{2}", period):
        raise ValueError(f"not a monthly period: {period!r}")
    return period.replace("-", "")


def canonical_period(sj: str) -> str:
    """``202506`` -> ``2025-06``."""
    if not re.fullmatch(r"\d{6}", sj or ""):
        raise ValueError(f"sj must be yyyymm, got {sj!r}")
    return f"{sj[:4]}-{sj[4:]}"


def indicators_for(period: str) -> list[NbsIndicator]:
    """The crosswalk's indicator groups whose codes are valid for ``period`` (YYYY-MM)."""
    return [i for i in nbs_indicators() if i.valid_for(period)]


def _code_index() -> dict[str, tuple[NbsIndicator, str]]:
    """Leaf code -> (indicator, canonical field), over every vintage."""
    index = {}
    for ind in nbs_indicators():
        index[ind.current_month_zb] = (ind, "current_month")
        index[ind.year_to_date_zb] = (ind, "cumulative")
    return index


def _dims(**values: str) -> str:
    return json.dumps([{"wdcode": k, "valuecode": v} for k, v in values.items()], separators=(",", ":"))


def query_params(region: str, period: str, group: str, k1: int) -> dict[str, str | int]:
    """``QueryData`` of one indicator group for one province and month (``k1``: the client's clock,
    ms, a cache buster)."""
    return {
        "m": "QueryData",
        "dbcode": DBCODE,
        "rowcode": "zb",
        "colcode": "sj",
        "wds": _dims(reg=region),
        "dfwds": _dims(zb=group, sj=wire_period(period)),
        "k1": k1,
    }


def tree_params(parent: str) -> dict[str, str]:
    return {"m": "getTree", "dbcode": DBCODE, "wdcode": "zb", "id": parent}


# --- answers -------------------------------------------------------------------------------------


def error_body(message: str, returncode: int = NO_DATA) -> bytes:
    return json.dumps({"returncode": returncode, "returndata": message}, ensure_ascii=False).encode()


def _cell(value: str | None) -> dict:
    if value is None:
        return {"data": 0, "dotcount": 2, "hasdata": False, "strdata": ""}
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    # A figure not finite, or beyond what a JSON double holds (1e99999999): its data is not written out.
    if number is None or not number.is_finite() or abs(number.adjusted()) > 300:
        return {"data": 0, "dotcount": 0, "hasdata": True, "strdata": value}  # a malformed figure, as served
    exponent = number.as_tuple().exponent
    dotcount = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return {"data": float(number), "dotcount": dotcount, "hasdata": True, "strdata": value}


def _cname(ind: NbsIndicator, measure: str) -> str:
    quantity = ind.nbs_name if ind.nbs_name.endswith("量") else f"{ind.nbs_name}产量"
    return f"{quantity}_{measure}"


def encode_answer(
    table: pa.Table, region: str, region_name: str, period: str, groups: Iterable[str], released: bool = True
) -> bytes:
    """The ``QueryData`` answer for ``groups`` of one province and month, from the records the
    province publishes (``table``: canonical industrial-output columns as text, maybe malformed). A
    product the province does not report, or a month not ``released``, has every cell missing."""
    sj = wire_period(period)
    by_group = {i.group: i for i in indicators_for(period)}
    records = {r["product_code"]: r for r in table.to_pylist()} if released else {}
    datanodes, indicators = [], []
    for group in groups:
        ind = by_group[group]
        record = records.get(ind.product_code, {})
        unit = products()[ind.product_code].unit_zh
        for measure, (field, label) in MEASURES.items():
            code = group + measure
            datanodes.append(_datanode(code, region, sj, _cell(record.get(field))))
            indicators.append(_indicator(code, _cname(ind, label), unit))
        for measure, label in OTHER_MEASURES.items():  # growth rates: not simulated, published as missing
            code = group + measure
            datanodes.append(_datanode(code, region, sj, _cell(None)))
            indicators.append(_indicator(code, _cname(ind, label), "%"))
    doc = {
        "returncode": OK,
        "returndata": {
            "datanodes": datanodes,
            "freshsort": 0,
            "hasdatacount": sum(n["data"]["hasdata"] for n in datanodes),
            "wdnodes": [
                {"wdcode": "zb", "wdname": "指标", "nodes": indicators},
                {"wdcode": "reg", "wdname": "地区", "nodes": [{"code": region, "cname": region_name, "unit": ""}]},
                {"wdcode": "sj", "wdname": "时间", "nodes": [{"code": sj, "cname": f"{sj[:4]}年{int(sj[4:])}月"}]},
            ],
        },
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def _datanode(code: str, region: str, sj: str, cell: dict) -> dict:
    dims = {"zb": code, "reg": region, "sj": sj}
    return {
        "code": "_".join(f"{d}.{v}" for d, v in dims.items()),
        "data": cell,
        "wds": [{"valuecode": v, "wdcode": d} for d, v in dims.items()],
    }


def _indicator(code: str, cname: str, unit: str) -> dict:
    return {"cname": cname, "code": code, "dotcount": 2, "exp": "", "memo": "", "name": cname, "unit": unit}


def encode_tree(parent: str, groups: Mapping[str, str]) -> bytes:
    """``getTree``'s answer: the child groups (id -> name) of ``parent``."""
    nodes = [
        {"dbcode": DBCODE, "id": gid, "isParent": True, "name": name, "pid": parent, "wdcode": "zb"}
        for gid, name in groups.items()
    ]
    return json.dumps(nodes, ensure_ascii=False).encode()


def decode_tree(body: bytes) -> list[str]:
    """The group ids a ``getTree`` answer lists; :class:`DecodeError` for a body cut short,
    :class:`LayoutError` for one that is not a list of nodes."""
    try:
        nodes = loads(body)
    except DecodeError as exc:
        raise DecodeError(f"not a complete getTree answer: {exc}") from exc
    if isinstance(nodes, dict) and "returncode" in nodes:
        _raise_for_returncode(nodes)
    if not isinstance(nodes, list) or not all(isinstance(n, dict) and type(n.get("id")) is str for n in nodes):
        raise LayoutError("getTree answer is not a list of indicator nodes")
    return [n["id"] for n in nodes]


def _raise_for_returncode(doc: dict) -> None:
    code, message = doc.get("returncode"), doc.get("returndata")
    code = int(code) if isinstance(code, Number) and code.isdigit() and len(code) < 10 else code  # exact token
    if code == NO_DATA:
        raise NotReleased(f"NBS easyquery: no data (returncode 501): {str(message)[:300]}")
    if code != OK:
        raise EasyqueryRefused(f"NBS easyquery refused the query: returncode {code}: {str(message)[:300]}")


def decode(schema: RecordSchema, body: bytes, envelopes: Sequence[Envelope] = ()) -> DecodedPage:
    """Industrial-output records from a ``QueryData`` answer (any number of indicator groups), the
    answer read once (:mod:`ibdc.formats.jsonread`: numbers exact, its datanodes one by one).

    ``answered`` on the page is the set of leaf codes the answer has a datanode for (published or
    not): NBS gives no count, so the adapter reconciles the cells it asked for with these.
    ``envelopes``: a portal's own declaration, read from the same parse into ``verdict`` (NBS's own
    ``returncode`` is read here).

    Raises :class:`DecodeError` (a body cut short or not JSON: fetched again),
    :class:`~ibdc.errors.NotReleased` (``returncode`` 501), :class:`EasyqueryRefused` (another
    returncode) and :class:`~ibdc.errors.LayoutError` (datanodes without the ``reg`` dimension: a
    national database that ignored the province filter; or any other layout than the one above). A
    datanode with what JSON does not allow (a key twice, ``NaN``) makes its product's record a fault
    (``DecodedPage.faults``), not the page's.
    """
    if schema.dataset != DATASET:
        raise LayoutError(f"NBS easyquery publishes {DATASET} only, not {schema.dataset}")
    text = json_text(body)
    served: list[tuple[object, str | None]] = []  # each datanode and its fault
    doc, _ = scan(text, ("returndata", "datanodes"), lambda node, fault: served.append((node, fault)))
    verdict = read_document(envelopes, doc, shown=text[:300]) if envelopes else None
    if verdict is not None and verdict.answer is not Answer.SUCCESS:
        return empty_page(INDUSTRIAL_OUTPUT, verdict)
    if not isinstance(doc, dict) or "returncode" not in doc:
        raise LayoutError("not an easyquery answer: no returncode")
    _raise_for_returncode(doc)
    try:
        page = _records(doc, served)
    except IbdcError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, RecursionError) as exc:
        raise LayoutError(f"not an easyquery answer: {exc!r}") from exc
    return dataclasses.replace(page, verdict=verdict)


def _records(doc: dict, served: list[tuple[object, str | None]]) -> DecodedPage:
    data = doc["returndata"]
    if data["datanodes"] is not RECORDS:
        raise TypeError("datanodes is not a list")
    zb_nodes = [n for w in data["wdnodes"] if w["wdcode"] == "zb" for n in w["nodes"]]
    units = {n["code"]: n.get("unit", "") for n in zb_nodes}
    names = {n["code"]: n.get("cname", "") for n in zb_nodes}
    nodes = [(node, dict((w["wdcode"], w["valuecode"]) for w in node["wds"]), fault) for node, fault in served]
    national = [node["code"] for node, dims, _ in nodes if "reg" not in dims]
    if national:
        raise LayoutError(
            f"datanodes without a region ({str(national[0])[:80]}, ...): a national database's answer, which ignores "
            "the province filter; national figures are never taken for a province's"
        )
    index = _code_index()
    answered: set[str] = set()
    # indicator -> field -> (value, node, fault)
    cells: dict[NbsIndicator, dict[str, tuple[str | None, dict, str | None]]] = {}
    places = set()
    for node, dims, fault in nodes:
        if sorted(dims) != sorted(DIMENSIONS) or not all(isinstance(dims[d], str) for d in DIMENSIONS):
            raise LayoutError(f"datanode {str(node.get('code'))[:80]!r} does not have the dimensions {DIMENSIONS}")
        if node.get("code") != f"zb.{dims['zb']}_reg.{dims['reg']}_sj.{dims['sj']}":
            raise LayoutError(f"datanode {str(node.get('code'))[:80]!r} does not have the dimensions {DIMENSIONS}")
        cell = node.get("data")
        if not isinstance(cell, dict) or not isinstance(cell.get("hasdata"), bool):
            raise LayoutError(f"datanode {node['code'][:80]!r}: no hasdata")
        places.add((dims["reg"], dims["sj"]))
        answered.add(dims["zb"])
        if dims["zb"] not in index:
            continue  # a growth rate, or an indicator outside the crosswalk
        ind, field = index[dims["zb"]]
        value = cell.get("strdata") if cell["hasdata"] else None
        cells.setdefault(ind, {})[field] = (None if value is None else text_of(value), node, fault)
    if len(places) > 1:
        raise LayoutError(f"one answer holds several regions or periods: {sorted(places)[:5]}")
    region, sj = next(iter(places)) if places else (None, None)
    try:
        period = canonical_period(sj) if sj is not None else None
    except ValueError as exc:
        raise LayoutError(f"easyquery answer for a period that is not a month: {exc}") from exc
    records, raw, faults = [], [], {}
    for ind, fields in cells.items():
        if all(value is None for value, _, _ in fields.values()):
            continue  # nothing published for this product (the province does not report it, or not yet)
        code_of = {"current_month": ind.current_month_zb, "cumulative": ind.year_to_date_zb}
        record_units = {str(units.get(code_of[f], "")) for f in fields}
        name = names.get(ind.current_month_zb, ind.nbs_name)
        why = "; ".join(sorted({fault for _, _, fault in fields.values() if fault}))
        if why:
            faults[len(records)] = f"datanode: {why}"
        records.append(
            {
                "province_code": region,
                "period": period,
                "product_code": ind.product_code,
                "product_name": text_of(name).split("_")[0].removesuffix("产量"),
                "unit": _unit_code("/".join(sorted(record_units))),
                "current_month": fields.get("current_month", (None, None, None))[0],
                "cumulative": fields.get("cumulative", (None, None, None))[0],
            }
        )
        raw.append(_raw([node for _, node, _ in fields.values()]))
    table = table_from_records(INDUSTRIAL_OUTPUT, records) if records else _empty()
    return DecodedPage(table, raw.__getitem__, None, frozenset(answered), None, faults)


def text_of(value: object) -> str:
    """A served value as text: a string or number token as it is, anything else as its JSON."""
    return value if isinstance(value, str) else exact_dumps(value)


def _raw(nodes: list[dict]) -> str:
    """The datanodes of a record, as served (numbers exact), compact."""
    try:
        return exact_dumps(nodes, compact=True)
    except RecursionError:
        return "(nested too deep)"


def _unit_code(label: str) -> str:
    """万吨 -> ``10k_tonnes``; a label the unit table does not know is kept as printed (the validator
    then quarantines the record for its unit)."""
    from ibdc.formats.csv_download import units  # the one unit table of the formats

    unit = units().by_label.get(label)
    return unit.code if unit else label


def _empty() -> pa.Table:
    return pa.table({n: pa.array([], pa.string()) for n in INDUSTRIAL_OUTPUT.names})
