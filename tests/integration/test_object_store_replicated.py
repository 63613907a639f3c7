"""The raw zone on SeaweedFS laid out as a centre scales it out (``Topology.REPLICATED``): a master, two
volume servers holding every volume twice (replication ``001``), a filer and its S3 gateway, each its
own process. Started here on ports of its own beside the local stack, the pipeline pointed at it:

- a restart of every server keeps the raw zone: the partition extracted before loads after, with the
  source stopped;
- losing a volume server after an extraction loses nothing: both servers hold every volume of the
  bucket, and with one killed (SIGKILL) the partition still loads, read from the other's replica."""

import os
import shutil
import signal

import pytest
import requests

from ibdc import pipeline
from ibdc.landing import raw_zone
from ibdc.landing.manifest import Partition
from ibdc.settings import reload_settings
from ibdc_dev.localstack import processes, seaweedfs, stack
from ibdc_dev.localstack.seaweedfs import Layout, Role, Topology

pytestmark = pytest.mark.integration

PORT = 31100  # the cluster's S3 port, its servers the next 14: below the kernel's ephemeral ports (32768-60999)
LAYOUT = Layout.of(Topology.REPLICATED, name="s3-replicated-test", state="seaweedfs-replicated-test")


@pytest.fixture(scope="module")
def replicated(services):
    """The cluster, started (its buckets those of the tests), the pipeline's settings pointed at it;
    afterwards stopped and its data deleted, the pipeline pointed back at the local stack."""
    if not services.manages_s3:
        pytest.skip("an external S3 endpoint: no local SeaweedFS to lay out")
    previous = os.environ.get("IBDC_S3_PORT")
    os.environ["IBDC_S3_PORT"] = str(PORT)
    try:
        settings = reload_settings()
        seaweedfs.ensure_running(settings, LAYOUT)
        yield settings
    finally:
        seaweedfs.stop(LAYOUT)
        shutil.rmtree(seaweedfs.data_dir(LAYOUT))  # a fresh cluster each run; `make clean` never sees it
        if previous is None:
            os.environ.pop("IBDC_S3_PORT")
        else:
            os.environ["IBDC_S3_PORT"] = previous
        reload_settings()


def _extracted(partition: Partition):
    extracted = pipeline.extract_partition(partition.dataset, partition.province_code, partition.period)
    assert extracted["status"] == "extracted", extracted
    return raw_zone.read_manifest(partition)


def _load_without_the_source(services, partition: Partition, manifest) -> None:
    """Load ``partition`` from the raw zone with the simulator stopped (its port closed)."""
    try:
        processes.stop("simulator")
        assert not processes.port_open(services.simulator_port)
        loaded = pipeline.load_partition_from_raw(partition.dataset, partition.province_code, partition.period)
        assert loaded.rows_in == manifest.records_received > 0 and loaded.rows_loaded > 0
    finally:  # the simulator again, by the local stack's own verb (its S3 port, not the cluster's)
        os.environ["IBDC_S3_PORT"] = str(services.s3_port)
        stack.up(say=lambda m: None)
        os.environ["IBDC_S3_PORT"] = str(PORT)
        reload_settings()


def _volumes_by_server(settings, collection: str) -> dict[str, set[int]]:
    """Each volume server's volume ids of ``collection`` (a bucket's), from the master."""
    master = LAYOUT.server(Role.MASTER).port(settings)
    status = requests.get(f"http://127.0.0.1:{master}/vol/status", timeout=5).json()
    held = {}
    for racks in status["Volumes"]["DataCenters"].values():
        for nodes in racks.values():
            for node, volumes in nodes.items():
                held[node] = {v["Id"] for v in volumes or [] if v["Collection"] == collection}
    return held


def test_a_restart_of_every_server_keeps_the_raw_zone(services, replicated, fresh_partitions):
    partition = Partition(dataset="industrial_output", province_code="510000", period=fresh_partitions.month)
    manifest = _extracted(partition)
    assert seaweedfs.stop(LAYOUT)
    assert not processes.port_open(PORT)
    seaweedfs.ensure_running(replicated, LAYOUT)
    assert raw_zone.read_manifest(partition) == manifest
    _load_without_the_source(services, partition, manifest)


def test_a_lost_volume_server_loses_nothing(services, replicated, fresh_partitions):
    partition = Partition(dataset="industrial_output", province_code="420000", period=fresh_partitions.month)
    manifest = _extracted(partition)
    held = _volumes_by_server(replicated, replicated.raw_bucket)
    first, second = (f"127.0.0.1:{v.port(replicated)}" for v in LAYOUT.volumes)
    assert held[first] == held[second] != set()  # every volume of the bucket on both servers
    lost = LAYOUT.volumes[1]
    os.killpg(processes.read_pid(lost.name), signal.SIGKILL)  # no goodbye to the master
    try:
        processes.wait_until(lambda: not processes.port_open(lost.port(replicated)), f"{lost.name} gone", 10)
        assert raw_zone.read_manifest(partition) == manifest
        _load_without_the_source(services, partition, manifest)
    finally:
        seaweedfs.start(LAYOUT, lost, replicated)
