-- Equipment availability, performance, quality and OEE rolled up to province x manufacturing
-- division x day: the enterprise-day figures averaged over the enterprises reporting, each enterprise
-- in the division its registry record had that day (the dim_enterprise version valid on the day;
-- before its first known version, that one; null for enterprises not in the registry).
-- Incremental on the day: the days the telemetry loads wrote. A registry load rebuilds every day: a
-- version it reveals may be valid from any earlier date (its change date), so any day's division may
-- change; that costs the whole roll-up once a registry month, the daily telemetry path stays per day.
with enterprise_day as (
    select *
    from {{ ref('mart_equipment_oee_enterprise_daily') }}
    {% if is_incremental() and not ibdc_loaded_periods('enterprises') %}
    {{ loaded_periods_filter('period_day', 'equipment_telemetry') }}
    {% endif %}
),

attributed as (
    select e.*, v.division_code
    from enterprise_day as e
    left join lateral (
        select d.division_code
        from {{ ref('dim_enterprise') }} as d
        where d.uscc = e.uscc
        order by (d.valid_from::date <= e.period_day) desc,  -- versions valid by the day first,
            case when d.valid_from::date <= e.period_day then d.valid_from end desc,  -- the latest of them,
            d.valid_from  -- else the earliest version
        limit 1
    ) as v on true
)

select
    e.province_code,
    e.period_day,
    e.division_code,
    count(*)::integer as enterprises_reporting,
    sum(e.devices_reporting)::integer as devices_reporting,
    sum(e.output_units)::bigint as output_units,
    sum(e.energy_kwh)::numeric as energy_kwh,
    sum(e.fault_hours)::integer as fault_hours,
    round(avg(e.availability), 6)::numeric as availability,
    round(avg(e.performance), 6)::numeric as performance,
    round(avg(e.quality), 6)::numeric as quality,
    round(avg(e.oee), 6)::numeric as oee
from attributed as e
group by e.province_code, e.period_day, e.division_code
