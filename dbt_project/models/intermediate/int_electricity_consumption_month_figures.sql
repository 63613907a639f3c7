-- One row per province, month and manufacturing division, values in kWh, with the months the figure
-- covers (January is published with February) and the month's consumption derived from the
-- year-to-date figures (macros/month_from_cumulative.sql).
select
    e.*,
    {{ months_covered('e.period_month') }} as months_covered,
    (e.consumption_kwh is not null) as is_published,
    {{ month_from_cumulative('e.cumulative_kwh', 'e.period_month', 'e.loaded_at') }} as consumption_kwh_from_cumulative
from {{ ref('stg_provincial__electricity_consumption') }} as e
{{ year_series_window('e', 'division_code') }}
