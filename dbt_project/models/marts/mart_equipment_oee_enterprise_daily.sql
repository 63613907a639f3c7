-- Equipment availability, performance, quality and OEE by enterprise x day, from hourly telemetry.
-- Incremental on the day (delete+insert on period_day): the transform DAG passes the telemetry days
-- loaded since the last build (var ibdc_loaded_periods, macro ibdc_loaded_periods) and only those
-- days are rebuilt, so a new day costs the same whatever the length of history; without the var (a
-- manual run) every day in raw is rebuilt.
--   availability: runtime minutes / (24 * 60) per device, averaged over the enterprise's devices;
--   performance:  per device, units produced / (runtime minutes x the device's best hourly rate of the
--                 day in units per runtime minute), averaged over devices (null without runtime);
--   quality:      units produced in hours without a fault code / all units produced;
--   oee:          availability x performance x quality.
with telemetry as (
    select *
    from {{ ref('stg_provincial__equipment_telemetry') }}
    {% if is_incremental() %}{{ loaded_periods_filter('period_day', 'equipment_telemetry') }}{% endif %}
),

device_day as (
    select
        province_code,
        period_day,
        uscc,
        device_id,
        sum(runtime_min) as runtime_min,
        sum(output_units) as output_units,
        coalesce(sum(output_units) filter (where not has_fault), 0) as good_units,
        sum(energy_kwh) as energy_kwh,
        count(*) filter (where has_fault) as fault_hours,
        max(output_units::numeric / nullif(runtime_min, 0)) as best_rate_per_min
    from telemetry
    group by province_code, period_day, uscc, device_id
),

device_oee as (
    select
        d.*,
        d.runtime_min / 1440.0 as availability,
        case when d.runtime_min > 0 and d.best_rate_per_min > 0
            then d.output_units / (d.runtime_min * d.best_rate_per_min) end as performance
    from device_day as d
),

enterprise_day as (
    select
        province_code,
        period_day,
        uscc,
        count(*) as devices_reporting,
        sum(runtime_min) as runtime_min,
        sum(output_units) as output_units,
        sum(good_units) as good_units,
        sum(energy_kwh) as energy_kwh,
        sum(fault_hours) as fault_hours,
        avg(availability) as availability,
        avg(performance) as performance,
        case when sum(output_units) > 0 then sum(good_units)::numeric / sum(output_units) end as quality
    from device_oee
    group by province_code, period_day, uscc
)

select
    province_code,
    period_day,
    uscc,
    devices_reporting::integer as devices_reporting,
    runtime_min::bigint as runtime_min,
    output_units::bigint as output_units,
    good_units::bigint as good_units,
    energy_kwh::numeric as energy_kwh,
    fault_hours::integer as fault_hours,
    round(availability, 6)::numeric as availability,
    round(performance, 6)::numeric as performance,
    round(quality, 6)::numeric as quality,
    round((availability * performance * quality), 6)::numeric as oee
from enterprise_day
