-- The 2018 crude steel output by province in the mart (December year-to-date, 10k tonnes) equals the
-- NBS figures (seed nbs_crude_steel_2018_by_province) for every province whose December 2018 is
-- loaded. It starts from the reference, so a missing crude steel row fails too, unless the load of
-- that partition quarantined records (the source's own bad figure may be the crude steel one); a
-- province the NBS reports no output for must show none. With no December 2018 loaded there is
-- nothing to compare (tests/integration/test_slice_end_to_end.py loads all 31 provinces).
with loaded as (  -- in a transform run that builds the loaded months only: when it built December 2018
    select province_code, rows_quarantined > 0 as had_quarantine
    from (
        select * from {{ ref('int_load_audit_latest') }}
        {{ loaded_periods_filter('period_month', 'industrial_output') }}
    ) as a
    where dataset = 'industrial_output' and period = '2018-12'
),

expected as (
    select l.province_code, l.had_quarantine, coalesce(n.crude_steel_10k_tonnes, 0) as nbs_10k_tonnes
    from loaded as l
    left join {{ ref('nbs_crude_steel_2018_by_province') }} as n on n.adcode = l.province_code
),

mart as (
    select province_code, output_ytd
    from {{ ref('mart_industrial_output_monthly') }}
    where product_code = 'crude_steel' and period_month = date '2018-12-01'
)

select e.province_code, m.output_ytd, e.nbs_10k_tonnes
from expected as e
left join mart as m on m.province_code = e.province_code
where coalesce(m.output_ytd, 0) <> e.nbs_10k_tonnes
  and not (m.province_code is null and e.had_quarantine)
