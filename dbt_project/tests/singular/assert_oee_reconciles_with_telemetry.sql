-- Reconciliation: per province and day, the enterprise-day OEE mart and its province x division
-- roll-up carry the raw telemetry's output, runtime and device count (in a run that builds the
-- loaded days only, for the days it built). A province-day retention dropped from raw after its last
-- load (raw.load_audit outcome dropped, ibdc.loading.retention) is in the marts only: not compared.
with dropped as (
    select province_code, period::date as period_day
    from (
        select distinct on (province_code, period) province_code, period, outcome
        from {{ source('raw', 'load_audit') }}
        where dataset = 'equipment_telemetry' and outcome in ('succeeded', 'dropped')
        order by province_code, period, finished_at desc
    ) as latest
    where outcome = 'dropped'
),
raw_totals as (
    select province_code, period_day, sum(output_units) as output_units, sum(runtime_min) as runtime_min,
           count(distinct device_id) as devices
    from {{ source('raw', 'equipment_telemetry') }}
    {{ loaded_periods_filter('period_day', 'equipment_telemetry') }}
    group by 1, 2
),
enterprise_totals as (
    select province_code, period_day, sum(output_units) as output_units, sum(runtime_min) as runtime_min,
           sum(devices_reporting) as devices
    from {{ ref('mart_equipment_oee_enterprise_daily') }}
    {{ loaded_periods_filter('period_day', 'equipment_telemetry') }}
    group by 1, 2
),
province_totals as (
    select province_code, period_day, sum(output_units) as output_units, sum(devices_reporting) as devices
    from {{ ref('mart_equipment_oee_province_daily') }}
    {{ loaded_periods_filter('period_day', 'equipment_telemetry') }}
    group by 1, 2
)
select coalesce(r.province_code, e.province_code, p.province_code) as province_code,
       coalesce(r.period_day, e.period_day, p.period_day) as period_day,
       r.output_units as raw_output, e.output_units as enterprise_output, p.output_units as province_output
from raw_totals as r
full outer join enterprise_totals as e on e.province_code = r.province_code and e.period_day = r.period_day
full outer join province_totals as p
    on p.province_code = coalesce(r.province_code, e.province_code)
    and p.period_day = coalesce(r.period_day, e.period_day)
where (r.output_units is distinct from e.output_units
       or r.runtime_min is distinct from e.runtime_min
       or r.devices is distinct from e.devices
       or e.output_units is distinct from p.output_units
       or e.devices is distinct from p.devices)
  and not (r.province_code is null and exists (
      select from dropped as d
      where d.province_code = coalesce(e.province_code, p.province_code)
        and d.period_day = coalesce(e.period_day, p.period_day)))
