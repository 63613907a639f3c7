-- Reconciliation: per province and month, the electricity in the energy intensity mart equals the
-- raw consumption of the mapped divisions, and its output equals the raw output of their products:
-- the month's figure in base units, as published, or where the current month is missing (February)
-- from the year-to-date figures (macros/month_from_cumulative.sql). In a run that builds the loaded
-- months only, for the months it built.
with mapping as (select division_code, product_code from {{ ref('division_products') }}),
raw_electricity as (
    select e.province_code, e.period_month, sum(e.consumption_kwh) as kwh
    from {{ source('raw', 'electricity_consumption') }} as e
    join mapping as m using (division_code)
    {{ loaded_periods_filter('e.period_month', ['electricity_consumption', 'industrial_output']) }}
    group by 1, 2
),
raw_output_months as ({{ raw_output_month_figures() }}),
raw_output as (
    select o.province_code, o.period_month, sum(o.value_month_base) as output_base
    from raw_output_months as o
    join mapping as m using (product_code)
    {{ loaded_periods_filter('o.period_month', ['electricity_consumption', 'industrial_output']) }}
    group by 1, 2
),
raw_totals as (
    select coalesce(e.province_code, o.province_code) as province_code,
           coalesce(e.period_month, o.period_month) as period_month, e.kwh, o.output_base
    from raw_electricity as e
    full outer join raw_output as o on o.province_code = e.province_code and o.period_month = e.period_month
),
mart_totals as (
    select province_code, period_month, sum(electricity_kwh) as kwh, sum(output_base) as output_base
    from {{ ref('mart_energy_intensity_monthly') }}
    {{ loaded_periods_filter('period_month', ['electricity_consumption', 'industrial_output']) }}
    group by 1, 2
)
select coalesce(r.province_code, m.province_code) as province_code,
       coalesce(r.period_month, m.period_month) as period_month,
       r.kwh as raw_kwh, m.kwh as mart_kwh, r.output_base as raw_output, m.output_base as mart_output
from raw_totals as r
full outer join mart_totals as m on m.province_code = r.province_code and m.period_month = r.period_month
where r.kwh is distinct from m.kwh or r.output_base is distinct from m.output_base
