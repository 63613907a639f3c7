-- Provincial digital-transformation scorecard by province x month: IoT devices reporting, 5G and
-- IoT adoption among active enterprises, data freshness and quality of the month's loads.
-- The months are those with at least one successful load of any dataset for the province.
-- Freshness is the load lag: days from the end of a period (the month; a telemetry day) to the load
-- the marts show, so it depends on the loads only, not on the day the scorecard is built.
with loads as (
    select
        a.*,
        a.finished_at::date - case
            when length(a.period) = 10 then a.period::date + 1
            else (a.period_month + interval '1 month')::date
        end as load_lag_days
    from {{ ref('int_load_audit_latest') }} as a
),

spine as (
    select distinct province_code, period_month from loads
),

devices as (
    select
        province_code,
        date_trunc('month', period_day)::date as period_month,
        count(distinct device_id) as iot_devices_reporting
    from {{ ref('stg_provincial__equipment_telemetry') }}
    group by 1, 2
),

enterprises as (
    select
        province_code,
        period_month,
        count(*) filter (where is_active) as active_enterprises,
        count(*) filter (where is_active and fiveg_adopted) as fiveg_enterprises,
        count(*) filter (where is_active and iot_adopted) as iot_enterprises
    from {{ ref('stg_provincial__enterprises') }}
    group by 1, 2
),

load_stats as (
    select
        province_code,
        period_month,
        max(load_lag_days) filter (where dataset = 'industrial_output') as lag_industrial_output,
        max(load_lag_days) filter (where dataset = 'electricity_consumption') as lag_electricity,
        max(load_lag_days) filter (where dataset = 'enterprises') as lag_enterprises,
        max(load_lag_days) filter (where dataset = 'equipment_telemetry') as lag_telemetry,
        sum(rows_in) as rows_in,
        sum(rows_quarantined) as rows_quarantined
    from loads
    group by 1, 2
)

select
    s.province_code,
    pr.name_en as province_name_en,
    s.period_month,
    coalesce(d.iot_devices_reporting, 0)::integer as iot_devices_reporting,
    e.active_enterprises::integer as active_enterprises,
    e.fiveg_enterprises::integer as fiveg_enterprises,
    case when e.active_enterprises > 0
        then round(e.fiveg_enterprises::numeric / e.active_enterprises, 6) end as fiveg_adoption_share,
    case when e.active_enterprises > 0
        then round(e.iot_enterprises::numeric / e.active_enterprises, 6) end as iot_adoption_share,
    l.lag_industrial_output::integer as load_lag_days_industrial_output,
    l.lag_electricity::integer as load_lag_days_electricity_consumption,
    l.lag_enterprises::integer as load_lag_days_enterprises,
    l.lag_telemetry::integer as load_lag_days_equipment_telemetry,
    l.rows_in::bigint as rows_in,
    l.rows_quarantined::bigint as rows_quarantined,
    case when l.rows_in > 0 then round(l.rows_quarantined::numeric / l.rows_in, 6) end as quarantine_rate
from spine as s
join {{ ref('provinces') }} as pr on pr.adcode = s.province_code
left join devices as d on d.province_code = s.province_code and d.period_month = s.period_month
left join enterprises as e on e.province_code = s.province_code and e.period_month = s.period_month
left join load_stats as l on l.province_code = s.province_code and l.period_month = s.period_month
