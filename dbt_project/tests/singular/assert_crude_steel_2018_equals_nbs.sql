-- The 2018 crude steel output by province in the mart (December year-to-date, 10k tonnes) equals
-- the NBS figures (seed nbs_crude_steel_2018_by_province) for every province loaded; provinces the
-- NBS reports no output for must show none. Compares only what is loaded (passes on an empty mart).
select m.province_code, m.output_ytd, n.crude_steel_10k_tonnes
from {{ ref('mart_industrial_output_monthly') }} as m
left join {{ ref('nbs_crude_steel_2018_by_province') }} as n on n.adcode = m.province_code
where m.product_code = 'crude_steel'
  and m.period_month = date '2018-12-01'
  and m.output_ytd is distinct from coalesce(n.crude_steel_10k_tonnes, 0)
