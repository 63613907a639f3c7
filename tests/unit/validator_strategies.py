"""Hypothesis strategies for the dataset validators' property tests (unit and integration): valid
canonical records of every dataset, and the same records mutated with the values that once got past
validation or out of it (huge and odd numbers, control characters, Unicode digits, final newlines,
impossible hours, offsets that change the UTC day)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st

from ibdc.datasets import DATASETS
from ibdc.formats.base import table_from_records
from ibdc.parsing.base import MAX_FRACTION_DIGITS, MAX_INTEGER_DIGITS, PageRows, Records
from ibdc.reference import divisions, products
from ibdc.schemas import SCHEMAS
from ibdc.uscc import CHARSET, check_digit
from tests.manifests import manifest_of

DIGITS = "0123456789"
FULL_WIDTH = str.maketrans(DIGITS, "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans(DIGITS, "٠١٢٣٤٥٦٧٨٩")

# --- valid records ----------------------------------------------------------------------------------


@st.composite
def bounded_numbers(draw, max_integer_digits: int = MAX_INTEGER_DIGITS) -> str:
    """Plain decimal text within the validators' bounds, in the forms sources serve (``12``, ``12.50``,
    ``1.5E+3``, ``25e-2``)."""
    whole = draw(st.integers(0, 10**max_integer_digits - 1))
    places = draw(st.text(DIGITS, min_size=1, max_size=MAX_FRACTION_DIGITS) | st.none())
    text = str(whole) if places is None else f"{whole}.{places}"
    if draw(st.booleans()) and len(str(whole)) + 3 <= max_integer_digits and (places or "") == "":
        # an exponent that keeps the value inside the bounds: e+0..3 or e-0..3 on a short mantissa
        exp = draw(st.integers(-3, 3))
        text = f"{whole}{draw(st.sampled_from('eE'))}{'+' if exp >= 0 and draw(st.booleans()) else ''}{exp}"
    return text


def _ordered(a: str, b: str) -> tuple[str, str]:
    from decimal import Decimal

    return (a, b) if Decimal(a) <= Decimal(b) else (b, a)


# Text a source may serve in a name: anything but the characters text_fault refuses.
NAMES = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffd") | st.sampled_from("\t\n\r\\\"'"),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip())


@st.composite
def uscc_codes(draw) -> str:
    first = draw(st.text(CHARSET, min_size=17, max_size=17))
    return first + check_digit(first)


@st.composite
def valid_records(draw, dataset: str, province: str, period: str, n: int) -> list[dict]:
    """``n`` valid canonical records of ``dataset`` in partition (``province``, ``period``), with
    distinct keys (also as the table's key: telemetry's devices differ, whatever their timestamps)."""
    if dataset == "industrial_output":
        codes = draw(st.lists(st.sampled_from(sorted(products())), min_size=n, max_size=n, unique=True))
        out = []
        for code in codes:
            current, cumulative = _ordered(draw(bounded_numbers()), draw(bounded_numbers()))
            out.append({"province_code": province, "period": period, "product_code": code,
                        "product_name": draw(NAMES), "unit": products()[code].unit_code,
                        "current_month": current, "cumulative": cumulative})  # fmt: skip
        return out
    if dataset == "electricity_consumption":
        codes = draw(st.lists(st.sampled_from(sorted(divisions())), min_size=n, max_size=n, unique=True))
        out = []
        for code in codes:
            current, cumulative = _ordered(draw(bounded_numbers()), draw(bounded_numbers()))
            if draw(st.integers(0, 5)) == 0:
                current, cumulative = None, None  # not published
            out.append({"province_code": province, "period": period, "division_code": code,
                        "division_name": draw(NAMES), "consumption": current, "cumulative": cumulative})  # fmt: skip
        return out
    if dataset == "enterprises":
        codes = draw(st.lists(uscc_codes(), min_size=n, max_size=n, unique=True))
        year, month = int(period[:4]), int(period[5:7])
        out = []
        for code in codes:
            registered = draw(st.dates(date(1950, 1, 1), date(year, month, 28)))
            updated = draw(st.dates(registered, date(year, month, 28)))
            phone = draw(st.from_regex(r"1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}", fullmatch=True))
            out.append({"uscc": code, "name": draw(NAMES), "province_code": province, "city": draw(NAMES),
                        "division_code": draw(st.sampled_from(sorted(divisions()))),
                        "size_class": draw(st.sampled_from(["large", "medium", "small", "micro"])),
                        "legal_representative": draw(NAMES), "phone": phone,
                        "iot_adopted": draw(st.sampled_from(["true", "false"])),
                        "fiveg_adopted": draw(st.sampled_from(["true", "false"])),
                        "registered_on": registered.isoformat(), "updated_on": updated.isoformat(),
                        "status": draw(st.sampled_from(["active", "deregistered"])), "period": period})  # fmt: skip
        return out
    if dataset == "equipment_telemetry":
        devices = draw(
            st.lists(
                st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{2,20}", fullmatch=True),
                min_size=n,
                max_size=n,
                unique_by=str.lower,
            )  # fmt: skip
        )
        out = []
        for device in devices:
            out.append({"device_id": device, "enterprise_code": draw(uscc_codes()), "ts": draw(hour_in_day(period)),
                        "runtime_min": str(draw(st.integers(0, 60))),
                        "output_units": str(draw(st.integers(0, 10**9 - 1))),
                        "energy_kwh": draw(bounded_numbers()),
                        "fault_code": draw(st.none() | st.from_regex(r"[A-Z][0-9]{3}", fullmatch=True))})  # fmt: skip
        return out
    raise KeyError(dataset)


@st.composite
def hour_in_day(draw, day: str) -> str:
    """An hour of the UTC ``day`` as a source may write it: ``Z``, or the local time on the hour with
    its offset (whole, half or three-quarter hours; the local date may be the day before or after)."""
    offset = draw(st.sampled_from([None, 0, 60, 480, -300, -720, 840, 330, 345, -570]))
    hour = timedelta(hours=draw(st.integers(0, 23)))
    if offset is None:
        return f"{datetime.fromisoformat(day) + hour:%Y-%m-%dT%H:%M:%S}Z"
    utc = datetime.fromisoformat(day).replace(tzinfo=UTC) + hour + timedelta(minutes=-offset % 60)
    local = utc + timedelta(minutes=offset)  # on the hour
    hours, minutes = divmod(abs(offset), 60)
    colon = draw(st.sampled_from([":", ""]))
    return f"{local:%Y-%m-%dT%H:%M:%S}{'-' if offset < 0 else '+'}{hours:02d}{colon}{minutes:02d}"


# --- hostile values -----------------------------------------------------------------------------------

ODD_NUMBERS = ["1e99999999", "1E+200000", "1e-99999999", "9" * 5000, "0." + "0" * 5000 + "1", "-0", "-0.0",
               "NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "1_000", "+1", ".5", "5.", "1e", "--1",
               "0x10", "1,000", "1 000", " 1", "1\n", "١٢٣", "１２", "१२", "1e20", "1e19", "1e-13", "1e-12",
               "99999999999999999999.999999999999", "100000000000000000000", "2147483648", "-1",
               "4294967296"]  # fmt: skip
# The ones that once got past validation and failed a COPY, or escaped validation: mostly chosen.
HOSTILE_NUMBERS = ["1e99999999", "1E+200000", "1e-99999999", "9" * 5000, "NaN", "Infinity", "-0", "1_000", "١٢٣",
                   "１２", "1\n", "1e20", "2147483648"]  # fmt: skip
ODD_TIMES = ["T24:00:00Z", "T99:00:00Z", "T23:60:00Z", "T05:00:00+25:00", "T05:00:00+14:61", "T05:00:00+15:00",
             "T01:00:00+08:00", "T20:00:00-05:00", "T05:00:00Z\n", "T05:00:00", "T05:00:00z", "T05:00:00+8",
             "T０５:00:00Z", "T05:30:00Z", "T05:00:00.000Z"]  # fmt: skip
ODD_TEXT = ["", " ", "\n", "\x00", "\x1b[31m", "\x7f", "\x85", "\ufffd", "\ud800", "\\N", "\\.", '"', "𠀀", "\u3000"]


@st.composite
def odd_values(draw, record: dict, field: str, day: str | None) -> str | None:
    """Values to put in ``field`` of ``record``: odd numbers, odd times (of ``day``), odd text, the
    value with a final newline, a control character or its digits in other scripts, random text."""
    value = record.get(field)
    generic = [st.none(), st.sampled_from(ODD_NUMBERS), st.sampled_from(ODD_TEXT), st.text(max_size=12)]
    generic.append(st.decimals(allow_nan=True, allow_infinity=True).map(str))
    generic.append(st.floats().map(repr))
    generic.append(st.integers(-(10**30), 10**30).map(str))
    kinds = {"any": st.one_of(generic)}  # chosen between first (one_of would flatten the kinds together)
    if day is not None and field == "ts":
        kinds["odd"] = st.sampled_from(ODD_TIMES).map(lambda t: day + t)
    elif isinstance(value, str) and value[:1].isdigit():
        kinds["odd"] = st.sampled_from(HOSTILE_NUMBERS)
    if isinstance(value, str):
        spaced = (value + "\n", value + "\r\n", value + " ", " " + value, value + "\x00")
        other_digits = (value.translate(FULL_WIDTH), value.translate(ARABIC_INDIC), value.upper(), value[:-1])
        kinds["close"] = st.sampled_from([*spaced, *other_digits])
        kinds["newline"] = st.just(value + "\n")  # Python's $ took it, PostgreSQL's CHECK does not
    return draw(kinds[draw(st.sampled_from(sorted(kinds)))])


@st.composite
def mutated_records(draw, dataset: str, province: str, period: str, n: int, max_changes: int = 3) -> list[dict]:
    """Valid records with up to ``max_changes`` fields changed to odd values."""
    records = draw(valid_records(dataset, province, period, n))
    fields = SCHEMAS[dataset].names
    day = period if SCHEMAS[dataset].cadence == "daily" else None
    for _ in range(draw(st.integers(1, max_changes))):
        i = draw(st.integers(0, n - 1))
        field = draw(st.sampled_from(fields))
        records[i][field] = draw(odd_values(records[i], field, day))
    return records


def random_records(dataset: str, n_max: int = 5) -> st.SearchStrategy:
    """Records of random text (and nulls) in every field."""
    value = st.none() | st.text(max_size=15) | st.sampled_from(ODD_NUMBERS + ODD_TEXT)
    return st.lists(st.fixed_dictionaries({f: value for f in SCHEMAS[dataset].names}), min_size=1, max_size=n_max)


# --- running a validator ----------------------------------------------------------------------------------


def validate(dataset: str, province: str, period: str, records: list[dict]) -> PageRows:
    """The dataset's validator over canonical records (raw text: each record's JSON)."""
    table = table_from_records(SCHEMAS[dataset], records)
    raw = [json.dumps(r, ensure_ascii=False) for r in records]
    manifest = manifest_of(
        dataset, province, period, key=f"{dataset}/province={province}/period={period}/page-0001.json"
    )
    return DATASETS[dataset].validate(
        manifest, manifest.objects[0], Records(table, list(range(len(records))), raw.__getitem__)
    )
