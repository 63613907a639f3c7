"""Ground truth of the registry of industrial enterprises, one monthly snapshot per province.

The registry of a province is generated once per seed (``registry``, cached): every enterprise that
is ever registered between ``HISTORY_START`` and ``HORIZON_END``, each with its whole history drawn
from the seed up front -- registration, changes of legal representative, phone and size class
(Poisson processes), IoT and 5G adoption (S-shaped diffusion over time), deregistration (an
exponential lifetime) -- as a list of dated versions. A snapshot (``snapshot``) is then a bisect per
enterprise: the version in force at the end of the month, with ``updated_on`` the date of the last
change. Nothing is iterated month by month.

- Who is listed at month M: every enterprise registered by the end of M, unless deregistered before
  M - ``DEREGISTERED_LISTED_MONTHS`` + 1: a deregistered enterprise stays listed with status
  ``deregistered`` in the snapshot of its deregistration month and the 11 after it, then drops out.
- USCC (GB 32100-2015): ``9`` (registered by market regulation) ``1`` (enterprise), the 6-digit
  GB/T 2260 code of the registration area (one of the province's cities in ``reference.cities``; a
  district in a municipality), the 9-character organisation code (8 digits before the reform of
  October 2015, ``MA`` + 6 characters after; its own GB 11714 check character last) and the check digit.
- ``city`` is the prefecture-level city's name (``北京市`` for a Beijing district).
- Divisions follow the province's industrial mix in the year of registration
  (:func:`ibdc_dev.simulator.industry.division_shares` weighted by each division's share of the nation's
  enterprises); the number of enterprises follows the province's size (``MIN_/MAX_ENTERPRISES`` ever
  registered, a few hundred listed at a time for the largest).
- Personal data: ``legal_representative`` (a generated Chinese name) and ``phone`` (an 11-digit
  mobile number) are made up from word lists and random digits; they belong to no one.
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass, replace
from datetime import date, timedelta

from ibdc.parsing.enterprises import EnterpriseRecord
from ibdc.periods import add_months, month_end, month_of
from ibdc.reference import cities, divisions, provinces
from ibdc.uscc import check_digit
from ibdc_dev.simulator.industry import division_shares, rng
from ibdc_dev.simulator.truth import province_size

HISTORY_START = date(1990, 1, 1)
REFORM_START = date(2015, 10, 1)  # organisation codes of new registrations start with MA from then on
HORIZON_END = date(2040, 12, 31)  # snapshots after this month are refused
INITIAL_SHARE = 0.5  # share of enterprises registered before 2015, the rest register up to HORIZON_END
REGISTRATION_SPLIT = date(2015, 1, 1)
MIN_ENTERPRISES, MAX_ENTERPRISES = 60, 600  # ever registered, smallest and largest province
DEREGISTERED_LISTED_MONTHS = 12
MIX_YEAR_STEP = 5

SIZE_CLASSES = ("micro", "small", "medium", "large")
SIZE_WEIGHTS = (0.40, 0.43, 0.13, 0.04)
STATUSES = ("active", "deregistered")
# Rates a year of each kind of change, and of deregistration by size class.
CHANGE_RATES = {"legal_representative": 0.06, "phone": 0.10, "size_class": 0.05}
DEREGISTRATION_RATES = {"micro": 0.06, "small": 0.04, "medium": 0.025, "large": 0.015}
# Diffusion of IoT (industrial internet) and 5G: share of enterprises of a size class that ever adopt,
# and the logistic curve of adoption dates (midpoint year, scale in years). 5G comes only with IoT and
# not before the commercial 5G licences of 6 June 2019.
IOT_CEILING = {"micro": 0.45, "small": 0.65, "medium": 0.85, "large": 0.95}
IOT_CURVE = (2021.5, 2.0)
FIVEG_CEILING = {"micro": 0.25, "small": 0.40, "medium": 0.60, "large": 0.80}
FIVEG_CURVE = (2024.0, 1.5)
FIVEG_START = date(2019, 6, 6)

# Share of the nation's industrial enterprises in each division (an assumption close to the NBS count
# of enterprises above designated size: many in non-metallic minerals, machinery, electrical, metal
# products, chemicals, food; few in tobacco and refining).
ENTERPRISE_SHARE = {
    "13": 5.5, "14": 2.2, "15": 1.6, "16": 0.05, "17": 4.8, "18": 3.4, "19": 2.0, "20": 2.3, "21": 1.6,
    "22": 1.7, "23": 1.4, "24": 2.2, "25": 0.6, "26": 6.2, "27": 2.1, "28": 0.4, "29": 5.5, "30": 8.5,
    "31": 1.2, "32": 1.8, "33": 6.5, "34": 6.5, "35": 4.5, "36": 3.9, "37": 1.2, "38": 6.6, "39": 5.5,
    "40": 1.6, "41": 0.4, "42": 0.4, "43": 0.3,
}  # fmt: skip

# Word lists of names.
BRAND_CHARS = "华泰鑫源恒达宏远金鼎瑞丰新宇东方盛昌隆兴永安利通海天中信嘉德百荣富康凯博诚汇正祥"
INDUSTRY_WORDS = {
    "13": ("食品", "粮油", "饲料"), "14": ("食品", "乳业"), "15": ("酒业", "饮品", "茶业"), "16": ("卷烟",),
    "17": ("纺织", "棉纺"), "18": ("服饰", "制衣"), "19": ("皮革", "鞋业"), "20": ("木业",), "21": ("家具",),
    "22": ("纸业",), "23": ("印务", "包装印刷"), "24": ("文体用品", "工艺"), "25": ("石化", "焦化"),
    "26": ("化工", "新材料"), "27": ("制药", "生物医药"), "28": ("化纤",), "29": ("塑胶", "橡胶"),
    "30": ("建材", "水泥", "玻璃"), "31": ("钢铁", "特钢"), "32": ("铝业", "铜业", "有色金属"),
    "33": ("金属制品", "五金"), "34": ("机械", "泵阀"), "35": ("装备", "专用设备"), "36": ("汽车部件", "汽车"),
    "37": ("船舶", "轨道交通装备"), "38": ("电气", "电器", "新能源"), "39": ("电子", "光电", "通信设备"),
    "40": ("仪器仪表", "智能仪表"), "41": ("工艺品",), "42": ("再生资源", "环保科技"), "43": ("设备维修", "机电维修"),
}  # fmt: skip
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN_CHARS = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志文斌辉鹏宇浩晨欣婷雪琳红海林峰亮成龙玉兰凤燕丹"
MOBILE_PREFIXES = tuple(
    str(p) for p in (*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159, 166, 176, 177, 178)
) + tuple(str(p) for p in (*range(180, 190), 191, 198, 199))
ORG_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # the USCC character set (no I, O, S, V, Z)
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def org_code_check(first8: str) -> str:
    """GB 11714-1997 check character of an organisation code's first 8 characters (digits and
    capital letters, A = 10 ... Z = 35): 11 - (weighted sum mod 11), 10 -> X, 11 -> 0."""
    total = sum(int(c, 36) * w for c, w in zip(first8, ORG_CODE_WEIGHTS, strict=True))
    c9 = 11 - total % 11
    return "X" if c9 == 10 else "0" if c9 == 11 else str(c9)


@dataclass(frozen=True)
class Version:
    """What changes over an enterprise's life; one version per change."""

    legal_representative: str
    phone: str
    size_class: str
    iot_adopted: bool
    fiveg_adopted: bool
    status: str
    updated_on: date


@dataclass(frozen=True)
class Enterprise:
    uscc: str
    name: str
    city: str
    division_code: str
    registered_on: date
    deregistered_on: date | None
    version_days: tuple[int, ...]  # ordinal of each version's date, ascending
    versions: tuple[Version, ...]

    def at(self, day: date) -> Version | None:
        """The version in force at the end of ``day`` (None before registration)."""
        i = bisect.bisect_right(self.version_days, day.toordinal())
        return self.versions[i - 1] if i else None


def _day_of_year(t: float) -> date:
    """A fractional year (2021.5) as a date."""
    year = math.floor(t)
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    return start + timedelta(days=int((t - year) * (end - start).days))


def _adoption(u: float, ceiling: float, curve: tuple[float, float]) -> date | None:
    """When an enterprise adopts (None: never, or after the horizon): adopters are the ``ceiling``
    share of draws ``u``; their dates follow the logistic ``curve``."""
    if u >= ceiling:
        return None
    v = min(max(u / ceiling, 1e-9), 1 - 1e-9)
    midpoint, scale = curve
    t = midpoint + scale * math.log(v / (1 - v))
    if t >= HORIZON_END.year + 1:
        return None
    return max(_day_of_year(t), HISTORY_START)


def _person(r) -> str:
    return r.choice(SURNAMES) + "".join(r.choice(GIVEN_CHARS) for _ in range(r.choice((1, 2, 2))))


def _phone(r) -> str:
    return r.choice(MOBILE_PREFIXES) + f"{r.randrange(10**8):08d}"


def _org_code(r, registered_on: date) -> str:
    if registered_on >= REFORM_START:
        body = "MA" + "".join(r.choice(ORG_CODE_CHARS) for _ in range(6))
    else:
        body = f"{r.randrange(10**7, 10**8)}"
    return body + org_code_check(body)


def _weighted(r, weights: dict[str, float]) -> str:
    keys = sorted(weights)
    return r.choices(keys, [weights[k] for k in keys])[0]


def _day_between(r, first: date, last: date) -> date:
    return date.fromordinal(r.randint(first.toordinal(), last.toordinal()))


def _events(r, rate_per_year: float, start: date, end: date) -> list[date]:
    """Dates of a Poisson process of ``rate_per_year`` from ``start`` (exclusive) to ``end``."""
    days, t, last = [], start.toordinal(), end.toordinal()
    while True:
        t += max(1, round(r.expovariate(rate_per_year / 365.25)))
        if t > last:
            return days
        days.append(date.fromordinal(t))


@functools.cache
def division_mix(seed: int, province: str, year: int) -> dict[str, float]:
    """Division -> share of the province's enterprises registered in ``year`` (the mix moves in steps
    of ``MIX_YEAR_STEP`` years: it changes slowly, and each year's mix costs a national computation)."""
    year = min(max(year, HISTORY_START.year), HORIZON_END.year)
    shares = division_shares(seed, year - year % MIX_YEAR_STEP)
    return {d: shares[d][province] * ENTERPRISE_SHARE[d] for d in divisions()}


def enterprise_count(province: str) -> int:
    """Enterprises ever registered in the province over the simulated history."""
    size = province_size()
    return round(MIN_ENTERPRISES + (MAX_ENTERPRISES - MIN_ENTERPRISES) * size[province] / max(size.values()))


def _enterprise(seed: int, province: str, i: int, taken: set[str]) -> Enterprise:
    r = rng(seed, "enterprise", province, i)
    if r.random() < INITIAL_SHARE:
        registered_on = _day_between(r, HISTORY_START, REGISTRATION_SPLIT - timedelta(days=1))
    else:
        registered_on = _day_between(r, REGISTRATION_SPLIT, HORIZON_END)
    places = cities()[province]
    place = r.choices(places, [3 if j == 0 else 1 for j in range(len(places))])[0]
    division = _weighted(r, division_mix(seed, province, registered_on.year))
    size = r.choices(SIZE_CLASSES, SIZE_WEIGHTS)[0]
    while True:  # unique within the province (the area code makes it unique nationally)
        uscc17 = "91" + place.adcode + _org_code(r, registered_on)
        name = (
            place.short_zh
            + "".join(r.sample(BRAND_CHARS, 2))
            + r.choice(INDUSTRY_WORDS[division])
            + ("股份有限公司" if size in ("medium", "large") and r.random() < 0.4 else "有限公司")
        )
        if uscc17 not in taken and name not in taken:
            taken.update((uscc17, name))
            break

    lifetime_days = r.expovariate(DEREGISTRATION_RATES[size] / 365.25)
    deregistered_on = registered_on + timedelta(days=max(30, round(lifetime_days)))
    if deregistered_on > HORIZON_END:
        deregistered_on = None
    last = deregistered_on - timedelta(days=1) if deregistered_on else HORIZON_END
    iot_on = _adoption(r.random(), IOT_CEILING[size], IOT_CURVE)
    fiveg_on = _adoption(r.random(), FIVEG_CEILING[size], FIVEG_CURVE) if iot_on else None
    if fiveg_on:
        fiveg_on = max(fiveg_on, FIVEG_START, iot_on)

    # Every dated change, then the versions they make (changes on or before registration are its state).
    changes: list[tuple[date, int, str]] = []
    for seq, kind in enumerate(sorted(CHANGE_RATES)):
        changes += [(d, seq, kind) for d in _events(r, CHANGE_RATES[kind], registered_on, last)]
    if iot_on:
        changes.append((max(iot_on, registered_on), 10, "iot"))
    if fiveg_on:
        changes.append((max(fiveg_on, registered_on), 11, "fiveg"))
    if deregistered_on:
        changes.append((deregistered_on, 12, "deregistered"))
    changes = [c for c in changes if c[0] <= HORIZON_END and (not deregistered_on or c[0] <= deregistered_on)]
    changes.sort()

    current = Version(_person(r), _phone(r), size, False, False, "active", registered_on)
    days, versions = [registered_on.toordinal()], [current]
    for day, _, kind in changes:
        if kind == "legal_representative":
            # A new legal representative usually brings a new contact phone.
            current = replace(
                current, legal_representative=_person(r), phone=_phone(r) if r.random() < 0.7 else current.phone
            )
        elif kind == "phone":
            current = replace(current, phone=_phone(r))
        elif kind == "size_class":
            # To a neighbouring class, in proportion to how common it is: the mix of sizes stays stable.
            k = SIZE_CLASSES.index(current.size_class)
            near = [j for j in (k - 1, k + 1) if 0 <= j < len(SIZE_CLASSES)]
            current = replace(current, size_class=SIZE_CLASSES[r.choices(near, [SIZE_WEIGHTS[j] for j in near])[0]])
        elif kind == "iot":
            current = replace(current, iot_adopted=True)
        elif kind == "fiveg":
            current = replace(current, fiveg_adopted=True)
        else:
            current = replace(current, status="deregistered")
        current = replace(current, updated_on=day)
        if days[-1] == day.toordinal():
            versions[-1] = current  # several changes on one day make one version
        else:
            days.append(day.toordinal())
            versions.append(current)
    return Enterprise(
        uscc=uscc17 + check_digit(uscc17),
        name=name,
        city=place.city_zh,
        division_code=division,
        registered_on=registered_on,
        deregistered_on=deregistered_on,
        version_days=tuple(days),
        versions=tuple(versions),
    )


@functools.cache
def registry(seed: int, province: str) -> tuple[Enterprise, ...]:
    """Every enterprise the province ever registers over the simulated history, with its history."""
    if province not in provinces():
        raise ValueError(f"unknown province {province!r}")
    taken: set[str] = set()
    return tuple(_enterprise(seed, province, i, taken) for i in range(enterprise_count(province)))


def listed(enterprise: Enterprise, period: str) -> bool:
    """Whether the enterprise is in the snapshot of ``period``."""
    end = month_end(period)
    if enterprise.registered_on > end:
        return False
    gone = enterprise.deregistered_on
    return gone is None or add_months(month_of(gone), DEREGISTERED_LISTED_MONTHS) > period


@functools.lru_cache(maxsize=512)
def snapshot(seed: int, province: str, period: str) -> tuple[EnterpriseRecord, ...]:
    """The registry as at the end of ``period``, in order of registration."""
    end = month_end(period)
    if end > HORIZON_END:
        raise ValueError(f"the simulated registry ends in {HORIZON_END:%Y-%m}; no snapshot for {period}")
    records = []
    for e in registry(seed, province):
        if not listed(e, period):
            continue
        v = e.at(end)
        fixed = {f: getattr(e, f) for f in ("uscc", "name", "city", "division_code", "registered_on")}
        # The truth, as the platform's record holds it (unchecked): what never changes, the version in
        # force at the month's end (every field of a Version is one of the record's), the partition.
        records.append(EnterpriseRecord.model_construct(**fixed, **vars(v), province_code=province, period=period))
    records.sort(key=lambda rec: (rec.registered_on, rec.uscc))
    return tuple(records)


@functools.lru_cache(maxsize=256)
def connected(seed: int, province: str, day: date) -> tuple[tuple[str, str], ...]:
    """(USCC, size class) of the enterprises that can send telemetry on ``day``: IoT-adopted and active
    on the day, and active at the end of its month (so listed as such in the month's snapshot)."""
    end = month_end(month_of(day))
    if end > HORIZON_END:
        raise ValueError(f"the simulated registry ends in {HORIZON_END:%Y-%m}; no telemetry on {day}")
    out = []
    for e in registry(seed, province):
        v, at_end = e.at(day), e.at(end)
        if v and v.iot_adopted and v.status == "active" and at_end.status == "active":
            out.append((e.uscc, v.size_class))
    return tuple(out)
