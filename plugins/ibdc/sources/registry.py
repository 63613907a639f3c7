"""The registry of provincial sources, read from ``registry.yaml`` and validated."""

from __future__ import annotations

import enum
import functools
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationInfo, field_validator

from ibdc.formats.envelope import Envelope, Envelopes, default_for
from ibdc.reference import provinces
from ibdc.schemas import SCHEMAS, Cadence
from ibdc.settings import get_settings

REGISTRY_FILE = Path(__file__).with_name("registry.yaml")
# The simulator's connection: the default of every source the simulator serves that has no connection
# of its own defined (ibdc.sources.credentials); never a source's credentials elsewhere.
SIMULATOR_CONN = "ibdc_simulator"


class ApiStyle(enum.StrEnum):
    REST_JSON = "rest_json"  # paged REST JSON, bearer token
    APP_KEY = "app_key"  # appKey paging, UPPERCASE fields, yyyymmdd dates, base64 resource ids
    SIGNED_GATEWAY = "signed_gateway"  # signed POST form, JSON nested in JSON strings
    JSONP = "jsonp"  # callback-wrapped JSON, pageNo/pageSize
    CSV_DOWNLOAD = "csv_download"  # GBK / GB18030 CSV files, units in headers, 合计 rows
    NBS_EASYQUERY = "nbs_easyquery"  # NBS easyquery datanodes zb.<indicator>_reg.<adcode>_sj.<period>


class Portal(BaseModel, frozen=True):
    """A portal several provinces publish through (the National Bureau of Statistics' easyquery)."""

    style: ApiStyle
    base_url: str
    conn_id: str | None = None  # None: the portal needs no credentials
    datasets: tuple[str, ...]  # what the portal publishes
    envelope: Envelopes = None  # the portal's envelope codes; None: its style's (ibdc.formats.envelope)


class ProvinceSource(BaseModel, frozen=True):
    """Where a province publishes: its own portal's style, URL and credentials, and the datasets it
    publishes elsewhere (``via``: dataset -> a portal of the registry's ``portals``).
    :func:`source_for` gives the source of one dataset."""

    code: str
    style: ApiStyle
    base_url: str
    datasets: dict[str, Cadence]  # dataset -> the cadence the source publishes it at
    conn_id: str | None
    # dataset -> records asked for per page (within the portal's limit); others: IBDC_PAGE_SIZE
    page_sizes: dict[str, int] = {}
    via: dict[str, str] = {}
    # The envelope its portal's answers come in (codes for success, no data, rate limit; any other a
    # refusal), when it is not the style's usual one: see ibdc.formats.envelope.
    envelope: Envelopes = None

    @field_validator("code")
    @classmethod
    def _known_province(cls, code: str) -> str:
        if code not in provinces():
            raise ValueError(f"{code!r} is not a GB/T 2260 provincial code")
        return code

    @field_validator("conn_id")
    @classmethod
    def _own_connection(cls, conn_id: str | None, info: ValidationInfo) -> str | None:
        """``{code}`` in the connection id is the province's code (the registry's default gives each
        source a connection of its own, ``ibdc_source_<code>``)."""
        code = info.data.get("code")
        return conn_id.replace("{code}", code) if conn_id and code else conn_id

    @field_validator("datasets")
    @classmethod
    def _known_datasets(cls, datasets: dict[str, Cadence]) -> dict[str, Cadence]:
        unknown = sorted(set(datasets) - set(SCHEMAS))
        if unknown:
            raise ValueError(f"unknown datasets {unknown}; known: {sorted(SCHEMAS)}")
        for name, cadence in datasets.items():
            if cadence is not SCHEMAS[name].cadence:  # the dataset's DAG runs at the schema's cadence
                raise ValueError(f"{name} is collected {SCHEMAS[name].cadence}, not {cadence}")
        return datasets

    @property
    def envelopes(self) -> tuple[Envelope, ...]:
        """The envelope levels to read in every answer: the registry's declaration, else the style's."""
        return self.envelope if self.envelope is not None else default_for(self.style)

    def page_size(self, dataset: str) -> int:
        return self.page_sizes.get(dataset, get_settings().page_size)

    @property
    def url(self) -> str:
        return self.base_url.format(sources_url=get_settings().sources_url, code=self.code).rstrip("/")


def load_portals(path: Path = REGISTRY_FILE) -> dict[str, Portal]:
    return _portals(path)


def load_registry(path: Path = REGISTRY_FILE) -> dict[str, ProvinceSource]:
    """Province code -> where it publishes (its own portal; see :func:`source_for` per dataset).
    Read once per file (the same objects however the path is passed)."""
    return _registry(path)


@functools.cache
def _portals(path: Path) -> dict[str, Portal]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: Portal(**p) for name, p in (doc.get("portals") or {}).items()}


@functools.cache
def _registry(path: Path) -> dict[str, ProvinceSource]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    defaults = doc.get("defaults", {})
    portals = load_portals(path)
    # A province's page sizes add to the defaults' dataset by dataset (its other fields replace them).
    sizes = defaults.get("page_sizes") or {}
    sources = [
        ProvinceSource(**{**defaults, **entry, "page_sizes": {**sizes, **(entry.get("page_sizes") or {})}})
        for entry in doc["provinces"]
    ]
    by_code = {s.code: s for s in sources}
    if len(by_code) != len(sources):
        raise ValueError(f"{path}: a province is listed twice")
    for s in sources:
        for dataset, name in s.via.items():
            if name not in portals:
                raise ValueError(f"{path}: {s.code} publishes {dataset} via unknown portal {name!r}")
            if dataset not in s.datasets or dataset not in portals[name].datasets:
                raise ValueError(f"{path}: {s.code}: portal {name!r} does not publish {dataset!r}")
    return by_code


def source_for(province: str, dataset: str, path: Path = REGISTRY_FILE) -> ProvinceSource:
    """Where ``province`` publishes ``dataset``: its own portal, or the shared portal its ``via`` names
    (then with that portal's style, URL, credentials and envelope). ``KeyError`` for an unknown province."""
    own = load_registry(path)[province]
    name = own.via.get(dataset)
    if name is None:
        return own
    portal = load_portals(path)[name]
    return own.model_copy(
        update={
            "style": portal.style,
            "base_url": portal.base_url,
            "conn_id": portal.conn_id,
            "envelope": portal.envelope,
        }
    )


def served_by_simulator(url: str) -> bool:
    """Whether ``url`` is the simulator's (under ``IBDC_SIMULATOR_URL``, the local one when unset)."""
    base = get_settings().sources_url
    return url == base or url.startswith(f"{base}/")


def _every_source(path: Path) -> list[ProvinceSource]:
    """Each province's own portal, and each shared portal as one of its provinces reaches it."""
    found = []
    for code, own in load_registry(path).items():
        found += [own, *(source_for(code, dataset, path) for dataset in own.via)]
    return found


def simulator_default(conn_id: str, path: Path = REGISTRY_FILE) -> str | None:
    """:data:`SIMULATOR_CONN` if ``conn_id`` is the connection of registry sources and the simulator
    serves all of them (then the simulator's connection stands in when ``conn_id`` is not defined);
    None otherwise: a source elsewhere has its own connection or none."""
    users = [s for s in _every_source(path) if s.conn_id == conn_id]
    return SIMULATOR_CONN if users and all(served_by_simulator(s.url) for s in users) else None


def connections_needed(path: Path = REGISTRY_FILE) -> set[str]:
    """The connections a deployment defines at least: each source's own, or for a source the
    simulator serves, the simulator's (its default)."""
    return {simulator_default(s.conn_id, path) or s.conn_id for s in _every_source(path) if s.conn_id is not None}


def sources_for(dataset: str) -> dict[str, ProvinceSource]:
    """Province -> its source of ``dataset``, for the provinces that publish it."""
    return {code: source_for(code, dataset) for code, s in load_registry().items() if dataset in s.datasets}


def resolve_provinces(dataset: str, requested: list[str] | None) -> list[str]:
    """Validate a ``provinces`` request (None or empty: all) against the registry."""
    available = sources_for(dataset)
    if not requested:
        return sorted(available)
    unknown = sorted(set(requested) - set(available))
    if unknown:
        raise ValueError(f"unknown provinces for {dataset}: {unknown}; known: {sorted(available)}")
    return sorted(set(requested))
