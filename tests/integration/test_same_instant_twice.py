"""One reading served twice, its timestamp written two ways (issue 13): ``2026-09-21T05:00:00Z`` on
one page, ``2026-09-21T13:00:00+08:00`` (or ``+0800``) on the next. Both are valid and the same
instant, so the same key of ``raw.equipment_telemetry`` (device_id, ts timestamptz): the decoder
writes both in one canonical UTC text, the extraction's repeat finding sees one key, the identical
repeat is dropped, the conflicting one quarantined with its reason, and the partition loads (no
unique violation in the COPY, no reconciliation failure).

An app_key portal over HTTP (the recorded-answer portal: the simulator serves no repeated reading in
another spelling) answers Tianjin's telemetry of 2026-09-21."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from ibdc import pipeline
from ibdc.formats import app_key
from ibdc.schemas import EQUIPMENT_TELEMETRY
from ibdc.settings import get_settings
from ibdc.sources.registry import source_for
from ibdc_dev.simulator.datasets import DATASETS as SIMULATED
from tests.integration.recorded import RecordedPortal

DATASET = "equipment_telemetry"
TIANJIN, DAY = "120000", "2026-09-21"  # app_key
pytestmark = [pytest.mark.integration, pytest.mark.partitions(dataset=DATASET, provinces=[TIANJIN], periods=[DAY])]


def _beijing(ts: str, colon: bool = True) -> str:
    """``2026-09-21T05:00:00Z`` as Beijing time with its offset: ``2026-09-21T13:00:00+08:00``."""
    local = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ") + timedelta(hours=8)
    return f"{local:%Y-%m-%dT%H:%M:%S}+08{':' if colon else ''}00"


@pytest.fixture
def portal():
    servers: list[RecordedPortal] = []

    def serve(answer) -> RecordedPortal:
        servers.append(RecordedPortal(answer))
        return servers[-1]

    yield serve
    for server in servers:
        server.close()


def test_a_reading_served_again_in_another_spelling_of_its_instant_is_one_key_and_the_partition_loads(
    services, portal, warehouse
):
    truth = SIMULATED[DATASET].truth(get_settings().simulator_seed, TIANJIN, DAY, {})
    rows = truth.to_pylist()
    same, conflicting = dict(rows[5]), dict(rows[6])
    same["ts"] = _beijing(same["ts"])  # identical values, the instant written as Beijing time
    conflicting["ts"] = _beijing(conflicting["ts"], colon=False)
    conflicting["energy_kwh"] = "9999.5"  # and different values: the first is kept
    repeats = pa.Table.from_pylist([same, conflicting], schema=truth.schema)

    def answer(method: str, path: str, params: dict) -> tuple[int, bytes]:
        page, size = int(params["page"]), int(params["rows"])
        served = truth.slice((page - 1) * size, size)
        if page == 2:  # an unstable sort on the portal's side: two readings of page 1 again, respelled
            served = pa.concat_tables([repeats, served])
        return 200, app_key.encode(EQUIPMENT_TELEMETRY, served, truth.num_rows, page)

    server = portal(answer)
    source = source_for(TIANJIN, DATASET)
    pages = {**source.page_sizes, DATASET: truth.num_rows // 2}  # a second page, holding the repeats
    source = source.model_copy(update={"base_url": f"{server.url}/p/{{code}}", "page_sizes": pages})

    summary = pipeline.load_extracted(pipeline.extract_partition(DATASET, TIANJIN, DAY, source=source))

    assert (summary["status"], summary["records"]) == ("extracted", truth.num_rows + 2)  # as received
    assert (summary["rows_loaded"], summary["rows_quarantined"]) == (truth.num_rows, 1)
    loaded = warehouse.execute(
        "SELECT device_id, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), energy_kwh::text"
        " FROM raw.equipment_telemetry WHERE province_code = %s AND period_day = %s",
        (TIANJIN, DAY),
    ).fetchall()
    assert len(loaded) == truth.num_rows
    by_key = {(device, ts): energy for device, ts, energy in loaded}
    assert by_key[(rows[6]["device_id"], rows[6]["ts"])] != "9999.5"  # the first one served is kept
    ((reason, raw_text),) = warehouse.execute(
        "SELECT reason, raw_text FROM raw.quarantine WHERE dataset = %s AND province_code = %s AND period = %s",
        (DATASET, TIANJIN, DAY),
    ).fetchall()
    assert f'["{rows[6]["device_id"]}", "{rows[6]["ts"]}"] served again with different values' in reason
    assert "(first on page 1, record 7; the first is kept)" in reason
    assert conflicting["ts"] in raw_text and "9999.5" in raw_text  # the raw text as served
