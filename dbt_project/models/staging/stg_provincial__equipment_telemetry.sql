-- One row per device and hour: runtime, output, energy and fault of the hour.
select
    t.province_code,
    t.period_day,
    t.device_id,
    t.enterprise_code as uscc,
    t.ts,
    t.runtime_min::integer as runtime_min,
    t.output_units,
    t.energy_kwh,
    t.fault_code,
    (t.fault_code is not null) as has_fault,
    t.batch_id,
    t.loaded_at
from {{ source('raw', 'equipment_telemetry') }} as t
