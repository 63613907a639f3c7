"""Hourly equipment telemetry: the high-volume dataset, generated column-wise with Arrow.

Deterministic arithmetic on the row index (no per-row Python), so one province-day goes from
thousands to millions of rows at the same cost per row: ``devices`` x 24 hours.

Devices belong to the province's enterprises that are IoT-adopted and active that day and at the end of
its month (:func:`ibdc_dev.simulator.enterprises.connected`, so every ``enterprise_code`` is the USCC of an
enterprise listed as active and IoT-adopted in the month's registry snapshot). Devices are dealt to
them in turn, a larger enterprise holding more slots (``DEVICE_SLOTS``); when the set of connected
enterprises changes from one month to the next, devices may change hands. A province-day without any
connected enterprise has no telemetry.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from ibdc_dev.simulator.enterprises import connected

DEVICE_SLOTS = {"micro": 1, "small": 2, "medium": 4, "large": 8}  # devices dealt per round, by size class


def _padded(values: pa.Array, width: int) -> pa.Array:
    return pc.utf8_lpad(pc.cast(values, pa.string()), width=width, padding="0")


def telemetry_table(seed: int, province: str, day: date, devices: int, malformed_every: int | None = None) -> pa.Table:
    """``devices`` x 24 rows as a source serves them (all text); with ``malformed_every``, every n-th
    row carries a bad value (runtime over 60 minutes, negative energy or a reading from another day)."""
    owners = connected(seed, province, day)
    usccs = pa.array([uscc for uscc, _ in owners], pa.string())
    slots = pa.array([i for i, (_, size) in enumerate(owners) for _ in range(DEVICE_SLOTS[size])], pa.int64())
    n = devices * 24 if owners else 0
    idx = pa.array(range(n), pa.int64())
    device = pc.divide(idx, 24)
    slot = pc.subtract(device, pc.multiply(pc.divide(device, len(slots) or 1), len(slots) or 1))  # device mod slots
    hour = pc.subtract(idx, pc.multiply(device, 24))
    salted = pc.add(device, seed % 9973)
    runtime = pc.bit_wise_and(pc.add(pc.multiply(salted, 13), pc.multiply(hour, 7)), 63)
    runtime = pc.if_else(pc.greater(runtime, 60), pa.scalar(60, pa.int64()), runtime)
    output = pc.multiply(runtime, pc.add(pc.bit_wise_and(salted, 3), 1))
    energy = pc.divide(pc.multiply(pc.cast(runtime, pa.float64()), pc.add(pc.bit_wise_and(salted, 7), 2.0)), 4.0)
    fault = pc.if_else(
        pc.equal(pc.bit_wise_and(pc.add(idx, seed), 1023), 0), pa.scalar("F042"), pa.scalar(None, pa.string())
    )
    ts = pc.binary_join_element_wise(f"{day.isoformat()}T", _padded(hour, 2), ":00:00Z", "")
    columns = {
        "device_id": pc.binary_join_element_wise(f"DEV-{province}-", _padded(device, 7), ""),
        "enterprise_code": usccs.take(slots.take(slot)),
        "ts": ts,
        "runtime_min": pc.cast(runtime, pa.string()),
        "output_units": pc.cast(output, pa.string()),
        "energy_kwh": pc.cast(energy, pa.string()),
        "fault_code": fault,
    }
    if malformed_every:
        bad = pc.equal(pc.subtract(idx, pc.multiply(pc.divide(idx, malformed_every), malformed_every)), 7)
        kind = pc.bit_wise_and(pc.divide(idx, malformed_every), 3)
        columns["runtime_min"] = pc.if_else(pc.and_(bad, pc.equal(kind, 0)), "61", columns["runtime_min"])
        columns["energy_kwh"] = pc.if_else(pc.and_(bad, pc.equal(kind, 1)), "-3.5", columns["energy_kwh"])
        columns["ts"] = pc.if_else(pc.and_(bad, pc.equal(kind, 2)), "2099-01-01T00:00:00Z", columns["ts"])
        columns["output_units"] = pc.if_else(pc.and_(bad, pc.equal(kind, 3)), "12a", columns["output_units"])
    return pa.table(columns)
