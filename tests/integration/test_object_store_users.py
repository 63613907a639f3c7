"""Each service's object-store key, tried against SeaweedFS, and the raw zone's retention (object lock,
GOVERNANCE mode, as compose's minio-init sets it on the raw bucket).

- The docs reader (the Airflow api-server's key, compose's MinIO user ``ibdc-docs-reader``) gets the
  published dbt docs and nothing else: it cannot write or delete them, list a bucket, read outside
  ``dbt-docs/latest/``, nor touch the raw zone in any way.
- The pipeline writes the docs prefix (the transform publishes there).
- Under a default GOVERNANCE retention the pipeline still adds versions and delete markers, and no
  version is removed before the retention ends: not by the pipeline's key, even asking to bypass the
  governance mode, nor by shortening the retention or putting a legal hold; not by the administrator
  without bypassing the governance mode either (the retention holds beyond the bucket policy); the
  administrator bypassing it can (GOVERNANCE, not COMPLIANCE: docs/governance.md says why).

A SeaweedFS of its own (one server on ports 31200-31213, below the kernel's ephemeral ports): the
tests need a bucket of their own under object lock and identities of their own (the docs reader's keys,
made up when unset), without touching the shared local stack's gateway, its identities or its buckets
(locked versions could not be removed from those afterwards); its data is deleted afterwards, locked
versions included."""

import io
import os
import secrets
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from minio.commonconfig import ENABLED, GOVERNANCE
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.objectlockconfig import DAYS, ObjectLockConfig
from minio.retention import Retention

from ibdc.landing.object_store import client
from ibdc.settings import reload_settings
from ibdc.transform.docs import DOCS_PREFIX
from ibdc_dev.localstack import seaweedfs
from ibdc_dev.localstack.seaweedfs import DOCS_READER_KEYS, Keys, Layout, Topology

pytestmark = pytest.mark.integration

PORT = 31200  # the server's S3 port, its own servers up to +13: below the kernel's ephemeral ports
LAYOUT = Layout.of(Topology.SINGLE, name="s3-users-test", state="seaweedfs-users-test")
PAGE = DOCS_PREFIX + "index.html"
RAW_KEY = "users-test/object.json"


@pytest.fixture(scope="module")
def store(services):
    """The server started with the docs reader's identity (keys from ``IBDC_S3_DOCS_READER_*``, made
    up for this server when unset), its buckets those of the tests; afterwards stopped, its data
    deleted, the environment as it was."""
    if not services.manages_s3:
        pytest.skip("an external S3 endpoint: its users are its operator's")
    saved = {name: os.environ.get(name) for name in ("IBDC_S3_PORT", *_key_vars())}
    os.environ["IBDC_S3_PORT"] = str(PORT)
    if Keys.optional(DOCS_READER_KEYS) is None:
        os.environ[f"{DOCS_READER_KEYS}_ACCESS_KEY"] = "reader" + secrets.token_hex(6)
        os.environ[f"{DOCS_READER_KEYS}_SECRET_KEY"] = secrets.token_urlsafe(24)
    try:
        settings = reload_settings()
        seaweedfs.ensure_running(settings, LAYOUT)
        yield settings
    finally:
        seaweedfs.stop(LAYOUT)
        shutil.rmtree(seaweedfs.data_dir(LAYOUT), ignore_errors=True)  # locked versions too: a fresh server each run
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reload_settings()


def _key_vars() -> tuple[str, str]:
    return f"{DOCS_READER_KEYS}_ACCESS_KEY", f"{DOCS_READER_KEYS}_SECRET_KEY"


@pytest.fixture
def reader(store):
    keys = Keys.from_env(DOCS_READER_KEYS)
    return client(store, keys.access_key, keys.secret_key)


def _put(mc, bucket: str, key: str, body: bytes):
    return mc.put_object(bucket, key, io.BytesIO(body), len(body))


def _refused(call) -> None:
    with pytest.raises(S3Error) as refused:
        result = call()
        if hasattr(result, "__iter__") and not isinstance(result, (bytes, str)):
            list(result)  # a listing is lazy: its first page is the request
    assert refused.value.code == "AccessDenied", refused.value


def test_the_pipeline_publishes_the_docs_and_the_reader_gets_them_and_nothing_else(store, reader):
    pipeline, admin = client(store), seaweedfs.admin_client(store)
    docs, raw = store.docs_bucket, store.raw_bucket
    assert _put(pipeline, docs, PAGE, b"<html>docs</html>").version_id  # the transform's publishing
    _put(pipeline, raw, RAW_KEY, b'{"v": 1}')
    _put(admin, docs, "elsewhere/index.html", b"not the docs")

    assert reader.get_object(docs, PAGE).read() == b"<html>docs</html>"
    assert reader.stat_object(docs, PAGE).size == len(b"<html>docs</html>")  # docs.published()'s HEAD
    _refused(lambda: _put(reader, docs, PAGE, b"<script>planted</script>"))
    _refused(lambda: _put(reader, docs, DOCS_PREFIX + "new.html", b"x"))
    _refused(lambda: reader.remove_object(docs, PAGE))
    _refused(lambda: reader.list_objects(docs, prefix=DOCS_PREFIX))
    _refused(lambda: reader.get_object(docs, "elsewhere/index.html"))
    _refused(lambda: reader.get_object(raw, RAW_KEY))
    _refused(lambda: _put(reader, raw, RAW_KEY, b"{}"))
    _refused(lambda: reader.remove_object(raw, RAW_KEY))
    _refused(lambda: reader.list_objects(raw))
    _refused(lambda: reader.make_bucket("ibdc-users-test-new"))
    assert admin.get_object(docs, PAGE).read() == b"<html>docs</html>"  # nothing the reader tried landed
    assert admin.get_object(raw, RAW_KEY).read() == b'{"v": 1}'


@pytest.fixture
def locked(store):
    """A bucket as compose's raw bucket: object lock with a default GOVERNANCE retention of one day,
    versioned, under the pipeline's bucket policy; two versions of one object written by the pipeline."""
    admin = seaweedfs.admin_client(store)
    bucket = f"{store.raw_bucket}-locked"
    if not admin.bucket_exists(bucket):
        admin.make_bucket(bucket, object_lock=True)
    seaweedfs.ensure_bucket(admin, bucket)
    admin.set_object_lock_config(bucket, ObjectLockConfig(GOVERNANCE, 1, DAYS))
    pipeline = client(store)
    first, second = (_put(pipeline, bucket, RAW_KEY, body).version_id for body in (b'{"v": 1}', b'{"v": 2}'))
    return bucket, first, second


def _versions(mc, bucket: str) -> set[str]:
    listed = mc.list_objects(bucket, prefix=RAW_KEY, include_version=True)
    return {o.version_id for o in listed if not o.is_delete_marker}


def test_the_retention_keeps_every_version_and_the_pipeline_still_writes(store, locked):
    bucket, first, second = locked
    pipeline, admin = client(store), seaweedfs.admin_client(store)
    lock = admin.get_object_lock_config(bucket)
    assert (lock.mode, lock.duration, lock.duration_unit) == (GOVERNANCE, 1, DAYS)
    assert admin.get_bucket_versioning(bucket).status == ENABLED
    retention = admin.get_object_retention(bucket, RAW_KEY, version_id=first)
    assert retention.mode == GOVERNANCE and retention.retain_until_date > datetime.now(UTC)

    third = _put(pipeline, bucket, RAW_KEY, b'{"v": 3}').version_id  # a new version: allowed
    pipeline.remove_object(bucket, RAW_KEY)  # a delete marker: allowed, every version stays
    assert {first, second, third} <= _versions(admin, bucket)

    _refused(lambda: pipeline.remove_object(bucket, RAW_KEY, version_id=first))
    errors = list(pipeline.remove_objects(bucket, [DeleteObject(RAW_KEY, second)], bypass_governance_mode=True))
    assert [e.code for e in errors] == ["AccessDenied"], errors
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    _refused(lambda: pipeline.set_object_retention(bucket, RAW_KEY, Retention(GOVERNANCE, soon), version_id=first))
    _refused(lambda: pipeline.enable_object_legal_hold(bucket, RAW_KEY, version_id=first))
    _refused(lambda: pipeline.set_object_lock_config(bucket, ObjectLockConfig(GOVERNANCE, 1, DAYS)))
    assert {first, second, third} <= _versions(admin, bucket)


def test_the_retention_holds_beyond_the_bucket_policy_and_only_a_bypass_lifts_it(store, locked):
    """The administrator is not under the pipeline's Deny: what stops it is the retention itself."""
    bucket, first, second = locked
    admin = seaweedfs.admin_client(store)
    _refused(lambda: admin.remove_object(bucket, RAW_KEY, version_id=first))
    assert [e.code for e in admin.remove_objects(bucket, [DeleteObject(RAW_KEY, second)])] == ["AccessDenied"]
    assert {first, second} <= _versions(admin, bucket)
    assert not list(admin.remove_objects(bucket, [DeleteObject(RAW_KEY, first)], bypass_governance_mode=True))
    assert first not in _versions(admin, bucket) and second in _versions(admin, bucket)
