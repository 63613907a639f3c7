{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='period_day',
    indexes=[{'columns': ['period_day']}],
    on_schema_change='append_new_columns',
) }}
-- Equipment availability, performance, quality and OEE rolled up to province x manufacturing
-- division x day: the enterprise-day figures averaged over the enterprises reporting, the division
-- from the enterprise dimension's current version (null for enterprises not in the registry).
-- Incremental on the day like mart_equipment_oee_enterprise_daily (the days the loads wrote).
with enterprise_day as (
    select *
    from {{ ref('mart_equipment_oee_enterprise_daily') }}
    {% if is_incremental() %}{{ loaded_periods_filter('period_day', 'equipment_telemetry') }}{% endif %}
)

select
    e.province_code,
    e.period_day,
    d.division_code,
    count(*)::integer as enterprises_reporting,
    sum(e.devices_reporting)::integer as devices_reporting,
    sum(e.output_units)::bigint as output_units,
    sum(e.energy_kwh)::numeric as energy_kwh,
    sum(e.fault_hours)::integer as fault_hours,
    round(avg(e.availability), 6)::numeric as availability,
    round(avg(e.performance), 6)::numeric as performance,
    round(avg(e.quality), 6)::numeric as quality,
    round(avg(e.oee), 6)::numeric as oee
from enterprise_day as e
left join {{ ref('dim_enterprise') }} as d on d.uscc = e.uscc and d.is_current
group by e.province_code, e.period_day, d.division_code
