"""``make bench`` (third part, also ``make bench-scale``): memory and speed of one province-day of
telemetry per API style, at two sizes (issue 13: memory must not grow with the partition).

For each size the bench starts its own simulator (a free port, ``IBDC_SIMULATOR_TELEMETRY_DEVICES`` =
size / 24, fault profile ``none``); for each style that serves telemetry (one province each, the
first the registry lists in that style) and each round, two child processes run one after the other:
(a) extraction: ``ibdc.pipeline.extract_partition`` over HTTP from that simulator into the raw zone;
(b) loading: ``ibdc.pipeline.load_partition_from_raw`` into PostgreSQL.
Each child reports its own peak resident memory (``ru_maxrss`` of itself, imports included; the
memory after its imports is reported beside it) and the rows/s of its step (timed inside the child,
interpreter start-up excluded). The simulator's own peak memory is read from ``/proc`` at each size's
end. After each round the partition's objects (every version) are deleted from the bench bucket, so
the in-memory S3 server does not grow from round to round.

Run a step alone: ``python -m ibdc_dev.bench.scale extract|load <province> <day>``; it prints one JSON
line: ``{"rows": int, "seconds": float, "peak_rss_mb": float, "imports_rss_mb": float}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests
from minio.deleteobjects import DeleteObject

from ibdc.landing.manifest import Partition
from ibdc.settings import LOCAL_DIR, get_settings
from ibdc.sources.registry import ApiStyle, source_for, sources_for
from ibdc_dev.localstack import seaweedfs
from ibdc_dev.localstack.processes import free_port

DATASET = "equipment_telemetry"
DAY = "2026-10-01"
READINGS_PER_DEVICE = 24  # one reading an hour
TELEMETRY_STYLES = (
    ApiStyle.REST_JSON,
    ApiStyle.APP_KEY,
    ApiStyle.SIGNED_GATEWAY,
    ApiStyle.JSONP,
    ApiStyle.CSV_DOWNLOAD,
)  # NBS easyquery serves no telemetry
TARGET_PEAK_MB = 1024
TARGET_FLAT = 0.20  # the larger size's peak within 20% of the smaller's
LOG = LOCAL_DIR / "logs" / "simulator-bench.log"


@dataclass
class Measured:
    """One style at one size: per round, each step's peak RSS (MB) and rows/s."""

    style: str
    province: str
    readings: int
    rows: list[int] = field(default_factory=list)
    extract_mb: list[float] = field(default_factory=list)
    load_mb: list[float] = field(default_factory=list)
    extract_rps: list[float] = field(default_factory=list)
    load_rps: list[float] = field(default_factory=list)
    imports_mb: list[float] = field(default_factory=list)
    simulator_mb: float = 0.0


def provinces_by_style() -> dict[str, str]:
    """Style -> the first province the registry lists whose telemetry is served in that style."""
    chosen: dict[str, str] = {}
    for code, source in sources_for(DATASET).items():
        chosen.setdefault(str(source.style), code)
    return {str(s): chosen[str(s)] for s in TELEMETRY_STYLES}


def _peak_mb(pid: int) -> float:
    """A live process's peak resident memory (VmHWM), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def simulator(devices: int) -> Iterator[tuple[str, subprocess.Popen]]:
    """A simulator of its own serving ``devices`` x 24 readings a province-day, no faults; its URL."""
    port = free_port()
    env = {
        **os.environ,
        "IBDC_SIMULATOR_TELEMETRY_DEVICES": str(devices),
        "IBDC_SIMULATOR_FAULTS": "none",
        "IBDC_SIMULATOR_PORT": str(port),
    }
    LOG.parent.mkdir(parents=True, exist_ok=True)
    argv = [str(Path(sys.executable).with_name("uvicorn")), "ibdc_dev.simulator.app:app", "--host", "127.0.0.1"]
    with LOG.open("ab") as log:
        proc = subprocess.Popen(
            [*argv, "--port", str(port), "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{url}/health", timeout=2).ok:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bench's simulator did not start; see {LOG}")
            time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _child(step: str, province: str, sources_url: str) -> dict:
    """One step in a process of its own; what it reported. The source's own connection is set to the
    simulator's credentials, as a deployment defines each source's: undefined, the lookup would try
    Airflow's secrets backends first, importing Airflow into the step (seconds and some 80 MB)."""
    env = {**os.environ, "IBDC_SIMULATOR_URL": sources_url}
    conn_id = source_for(province, DATASET).conn_id
    if conn_id and "AIRFLOW_CONN_IBDC_SIMULATOR" in os.environ:
        env.setdefault(f"AIRFLOW_CONN_{conn_id.upper()}", os.environ["AIRFLOW_CONN_IBDC_SIMULATOR"])
    done = subprocess.run(
        [sys.executable, "-m", "ibdc_dev.bench.scale", step, province, DAY],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench {step} of {province} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _forget_partition(province: str) -> None:
    """Every version of the partition's objects deleted from the bench bucket (as the endpoint's
    administrator: the pipeline's keys may not delete a version)."""
    settings = get_settings()
    mc, bucket = seaweedfs.admin_client(settings), settings.raw_bucket
    prefix = Partition(dataset=DATASET, province_code=province, period=DAY).prefix
    versions = [
        DeleteObject(o.object_name, o.version_id)
        for o in mc.list_objects(bucket, prefix=prefix, recursive=True, include_version=True)
    ]
    for error in mc.remove_objects(bucket, versions):
        raise RuntimeError(f"could not delete a bench object: {error}")


def run(sizes: list[int], rounds: int, say=print, styles: list[str] | None = None) -> list[Measured]:
    """Each style (or only ``styles``) at each size (readings a province-day), ``rounds`` times; see
    the module doc. ValueError for a style that serves no telemetry."""
    chosen = provinces_by_style()
    unknown = sorted(set(styles or ()) - set(chosen))
    if unknown:
        raise ValueError(f"styles {unknown} serve no telemetry; known: {sorted(chosen)}")
    chosen = {style: province for style, province in chosen.items() if not styles or style in styles}
    results = []
    for size in sizes:
        devices = max(1, -(-size // READINGS_PER_DEVICE))
        with simulator(devices) as (url, proc):
            say(f"scale: {devices * READINGS_PER_DEVICE:,} readings a province-day, simulator on {url}")
            for style, province in chosen.items():
                m = Measured(style, province, devices * READINGS_PER_DEVICE)
                for r in range(1, rounds + 1):
                    extracted = _child("extract", province, url)
                    loaded = _child("load", province, url)
                    _forget_partition(province)
                    m.rows.append(loaded["rows"])
                    m.extract_mb.append(extracted["peak_rss_mb"])
                    m.load_mb.append(loaded["peak_rss_mb"])
                    m.extract_rps.append(extracted["rows"] / extracted["seconds"])
                    m.load_rps.append(loaded["rows"] / loaded["seconds"])
                    m.imports_mb.append(max(extracted["imports_rss_mb"], loaded["imports_rss_mb"]))
                    say(
                        f"  {style:<15} {province} round {r}: {loaded['rows']:,} rows; extract "
                        f"{extracted['peak_rss_mb']:.0f} MB {m.extract_rps[-1]:,.0f} rows/s "
                        f"({extracted['seconds']:.1f}s); load {loaded['peak_rss_mb']:.0f} MB "
                        f"{m.load_rps[-1]:,.0f} rows/s ({loaded['seconds']:.1f}s)"
                    )
                m.simulator_mb = _peak_mb(proc.pid)
                results.append(m)
            say(f"  simulator peak {_peak_mb(proc.pid):.0f} MB")
    return results


def _spread(values: list[float], unit: str = "") -> str:
    return f"{statistics.median(values):,.0f}{unit} ({min(values):,.0f}..{max(values):,.0f})"


def report(results: list[Measured], say=print) -> None:
    """Per style and size: peak MB and rows/s of each step, median (min..max over the rounds); then
    each style's growth from the smallest to the largest size, against the target."""
    say("scale: per style and size, median (min..max) over the rounds")
    for m in results:
        say(
            f"{m.style:<15} {m.readings:>10,}  extract {_spread(m.extract_mb, ' MB')}, {_spread(m.extract_rps)} rows/s;"
            f"  load {_spread(m.load_mb, ' MB')}, {_spread(m.load_rps)} rows/s"
            f"  (after imports {statistics.median(m.imports_mb):.0f} MB; simulator {m.simulator_mb:.0f} MB)"
        )
    met = all(max(m.extract_mb + m.load_mb) < TARGET_PEAK_MB for m in results)
    for style in dict.fromkeys(m.style for m in results):
        mine = sorted((m for m in results if m.style == style), key=lambda m: m.readings)
        small, large = mine[0], mine[-1]
        if small is large:
            continue  # one size: nothing to compare
        for step in ("extract", "load"):
            lo = statistics.median(getattr(small, f"{step}_mb"))
            hi = statistics.median(getattr(large, f"{step}_mb"))
            ok = hi < TARGET_PEAK_MB and hi <= lo * (1 + TARGET_FLAT)
            met &= ok
            say(
                f"scale_{style}_{step}_peak_growth: {hi / lo:.2f} ({lo:.0f} -> {hi:.0f} MB, "
                f"{small.readings:,} -> {large.readings:,} readings) {'met' if ok else 'NOT met'}"
            )
    target = f"peak < {TARGET_PEAK_MB} MB, within {TARGET_FLAT:.0%} between sizes"
    say(f"scale_target ({target}): {'met' if met else 'NOT met'}")


# --- the child processes -------------------------------------------------------------------------


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _step(step: str, province: str, day: str) -> dict:
    from ibdc.pipeline import extract_partition, load_partition_from_raw
    from ibdc_dev.localstack.env import load_local_env

    load_local_env()
    imports = _rss_mb()
    t0 = time.perf_counter()
    if step == "extract":
        summary = extract_partition(DATASET, province, day)
        if summary["status"] != "extracted":
            raise SystemExit(f"nothing extracted: {summary}")
        rows = summary["records"]
    elif step == "load":
        # accepted: the bench loads a smaller size after a larger one into the same partition
        rows = load_partition_from_raw(DATASET, province, day, accept_fewer_records=True).rows_loaded
    else:
        raise SystemExit(f"unknown step {step!r}: extract or load")
    seconds = time.perf_counter() - t0
    return {"rows": rows, "seconds": seconds, "peak_rss_mb": _rss_mb(), "imports_rss_mb": imports}


if __name__ == "__main__":
    print(json.dumps(_step(*sys.argv[1:4])))
