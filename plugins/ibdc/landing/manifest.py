"""The contracts between the stages of a partition: which partition (:class:`Partition`), and what an
extraction committed to the raw zone for it (:class:`Manifest`, its pages :class:`ManifestObject`).

As partitioned artifacts are kept elsewhere (cal-itp data-infra's), the object-store path is derived
from the partition's declared fields (``<dataset>/province=<code>/period=<period>/``) in one place,
and the model is stored beside the bytes: the manifest object is ``Manifest.model_dump_json()`` and is
read back with ``Manifest.model_validate_json``. Field names are those of the manifests written before
the models existed, so those read back unchanged; fields a reader does not know are ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

MANIFEST = "_manifest.json"


class Partition(BaseModel):
    """One (dataset, province, period) partition: the unit extracted, stored, loaded and passed between
    tasks (``model_dump()`` is its JSON form, for Airflow's XCom). ``period`` is ``YYYY-MM`` or
    ``YYYY-MM-DD`` by the dataset's cadence (checked by the stages, not here)."""

    model_config = ConfigDict(frozen=True)

    # The path's key=value segments, in order: (key in the path, field).
    PATH_KEYS: ClassVar[tuple[tuple[str, str], ...]] = (("province", "province_code"), ("period", "period"))

    dataset: str
    # Also read as ``province``: what the plan task handed out before this model (a retried task of a
    # run planned then still reads its partition).
    province_code: str = Field(validation_alias=AliasChoices("province_code", "province"))
    period: str

    @property
    def prefix(self) -> str:
        """The partition's folder in the raw zone: ``<dataset>/province=<code>/period=<period>/``."""
        return f"{self.dataset}/" + "".join(f"{key}={getattr(self, name)}/" for key, name in self.PATH_KEYS)

    @property
    def manifest_key(self) -> str:
        """The key of the partition's manifest: ``<prefix>_manifest.json``."""
        return self.prefix + MANIFEST


class ManifestObject(BaseModel):
    """One stored page: its key and S3 version id (the exact bytes, ``None`` only where the store keeps
    no versions), sha256 (hex) and size in bytes, records on it as served, content type, and the
    request that fetched it (as the source's adapter recorded it). ``page`` counts from 0."""

    model_config = ConfigDict(frozen=True)

    page: int | None = None  # None in manifests written before repeats were recorded (they list none)
    key: str
    version_id: str | None
    sha256: str
    bytes: int
    records: int
    content_type: str
    request: dict[str, Any]


class DecodedObject(BaseModel):
    """The extraction's pages as its decoders read them (:mod:`ibdc.landing.decoded`): the object's key
    and S3 version id, sha256 (hex) and size in bytes, the records it holds (every page's, in order)
    and the decoders' fingerprint (:func:`ibdc.formats.decoder_fingerprint`) of the code that decoded
    them. Derived from the pages, never instead of them: a load whose decoders differ decodes the pages."""

    model_config = ConfigDict(frozen=True)

    key: str
    version_id: str | None
    sha256: str
    bytes: int
    records: int
    decoder: str


class Duplicate(BaseModel):
    """A record served again (same key): its page and index on it, its key's values, where it was
    first served (page, index), and whether the repeat is identical to the first."""

    model_config = ConfigDict(frozen=True)

    page: int
    index: int
    key: list[str | None]
    first: tuple[int, int]
    identical: bool


class Source(BaseModel):
    """Where an extraction read from: the API style (its wire format) and the source's URL."""

    model_config = ConfigDict(frozen=True)

    style: str
    url: str


class Manifest(BaseModel):
    """A committed extraction of a partition: the partition's fields, the extraction's id (UTC start
    time, then a random suffix: ids sort by start), where and when it was read, the record counts
    (claimed by the source, received, distinct), the repeats, the total bytes and the pages in order;
    ``decoded``, when the extraction stored its decoded pages beside them (None: a page read from a file,
    pages held in memory and written at once (``raw_zone.write_partition``), keeping them failed, or a
    manifest written before they were stored)."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    province_code: str
    period: str
    extract_id: str
    source: Source
    extracted_at: datetime
    records_claimed: int
    records_received: int
    records_distinct: int
    duplicates: list[Duplicate] = []
    bytes: int
    objects: list[ManifestObject]
    decoded: DecodedObject | None = None

    @model_validator(mode="before")
    @classmethod
    def _before_repeats_were_recorded(cls, data: Any) -> Any:
        """A manifest written before repeats were recorded lists none: its records are all distinct."""
        if isinstance(data, dict) and "records_distinct" not in data and "records_received" in data:
            return {**data, "records_distinct": data["records_received"]}
        return data

    @property
    def object_keys(self) -> list[str]:
        """The keys of every object the manifest commits: its pages in order, then its decoded pages."""
        return [o.key for o in self.objects] + ([self.decoded.key] if self.decoded else [])

    @property
    def partition(self) -> Partition:
        return Partition(dataset=self.dataset, province_code=self.province_code, period=self.period)
