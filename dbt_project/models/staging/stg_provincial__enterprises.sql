-- One row per province, month and enterprise: the registry as at the end of each month.
select
    e.province_code,
    e.period_month,
    e.uscc,
    e.name as enterprise_name,
    e.city,
    e.division_code,
    e.size_class,
    e.legal_representative,
    e.phone,
    e.iot_adopted,
    e.fiveg_adopted,
    e.registered_on,
    e.updated_on,
    e.status,
    (e.status = 'active') as is_active,
    e.batch_id,
    e.loaded_at
from {{ source('raw', 'enterprises') }} as e
