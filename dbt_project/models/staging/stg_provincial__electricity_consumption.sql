-- One row per province, month and manufacturing division as published, values in kWh and 10k kWh.
-- The month's figure (the year-to-date derivations) is intermediate's: int_electricity_consumption_month_figures.
select
    e.province_code,
    e.period_month,
    e.division_code,
    e.consumption_kwh,
    e.cumulative_kwh,
    e.consumption_10k_kwh,
    e.cumulative_10k_kwh,
    e.batch_id,
    e.loaded_at
from {{ source('raw', 'electricity_consumption') }} as e
