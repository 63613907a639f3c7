"""The local SeaweedFS tried, not assumed. The pipeline's S3 keys they write, read, list and
delete objects (a delete marker), and cannot remove a version for good, by any route: neither
suspend versioning, nor delete an object version (alone or in a multi-object delete), nor expire
old versions by a lifecycle rule, nor change or drop the bucket's policy, nor delete the bucket.
The administrator's keys still can (set-up and clean-up are theirs)."""

import io
import json

import pytest
from minio.commonconfig import ENABLED, Filter
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.lifecycleconfig import LifecycleConfig, NoncurrentVersionExpiration, Rule
from minio.versioningconfig import SUSPENDED, VersioningConfig

from ibdc.landing.object_store import client
from ibdc_dev.localstack import seaweedfs

pytestmark = pytest.mark.integration

KEY = "keys-test/object.json"


@pytest.fixture
def written(services, s3_admin):
    """Two versions of one object, written with the pipeline's keys; every version removed after."""
    if not services.manages_s3:
        pytest.skip("an external S3 endpoint: its keys are its operator's")
    mc = client()
    first = mc.put_object(services.raw_bucket, KEY, io.BytesIO(b'{"v": 1}'), 8)
    second = mc.put_object(services.raw_bucket, KEY, io.BytesIO(b'{"v": 2}'), 8)
    yield mc, first.version_id, second.version_id
    for version in s3_admin.list_objects(services.raw_bucket, prefix=KEY, include_version=True):
        s3_admin.remove_object(services.raw_bucket, KEY, version_id=version.version_id)


def _versions(mc, bucket) -> list[str]:
    return [o.version_id for o in mc.list_objects(bucket, prefix=KEY, include_version=True) if not o.is_delete_marker]


def _refused(call) -> None:
    with pytest.raises(S3Error) as refused:
        call()
    assert refused.value.code == "AccessDenied", refused.value


def test_the_pipeline_writes_reads_lists_and_deletes_with_a_marker(services, written):
    mc, first, second = written
    bucket = services.raw_bucket
    assert mc.get_object(bucket, KEY, version_id=first).read() == b'{"v": 1}'
    assert mc.get_bucket_versioning(bucket).status == ENABLED  # the raw zone checks it before writing
    mc.remove_object(bucket, KEY)  # a delete marker: both versions stay
    assert set(_versions(mc, bucket)) == {first, second}


def test_the_pipeline_cannot_remove_a_version_for_good(services, written):
    mc, first, second = written
    bucket = services.raw_bucket
    _refused(lambda: mc.set_bucket_versioning(bucket, VersioningConfig(SUSPENDED)))
    _refused(lambda: mc.remove_object(bucket, KEY, version_id=first))
    errors = list(mc.remove_objects(bucket, [DeleteObject(KEY, second)]))
    assert [e.code for e in errors] == ["AccessDenied"], errors
    expire = LifecycleConfig(
        [
            Rule(
                ENABLED,
                rule_filter=Filter(prefix=""),
                rule_id="expire-old-versions",
                noncurrent_version_expiration=NoncurrentVersionExpiration(noncurrent_days=1),
            )
        ]
    )
    _refused(lambda: mc.set_bucket_lifecycle(bucket, expire))
    _refused(lambda: mc.delete_bucket_policy(bucket))
    _refused(lambda: mc.set_bucket_policy(bucket, json.dumps({"Version": "2012-10-17", "Statement": []})))
    _refused(lambda: mc.remove_bucket(bucket))
    _refused(lambda: mc.make_bucket("ibdc-keys-test-new"))
    assert mc.get_bucket_versioning(bucket).status == ENABLED
    assert set(_versions(mc, bucket)) == {first, second}
    assert mc.get_object(bucket, KEY, version_id=first).read() == b'{"v": 1}'


def test_the_administrator_still_manages_the_bucket(services, written, s3_admin):
    _, first, second = written
    bucket = services.raw_bucket
    assert json.loads(s3_admin.get_bucket_policy(bucket)) == seaweedfs.bucket_policy(bucket)
    s3_admin.remove_object(bucket, KEY, version_id=first)
    assert _versions(s3_admin, bucket) == [second]
