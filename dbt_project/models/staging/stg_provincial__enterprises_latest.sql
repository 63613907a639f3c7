-- The latest registry record of every enterprise (the most recent month it was published in):
-- what the enterprise snapshot (snapshots/snap_enterprises.yml) records history of.
select
    province_code, period_month, uscc, enterprise_name, city, division_code, size_class,
    legal_representative, phone, iot_adopted, fiveg_adopted, registered_on, updated_on, status,
    -- When the record took this form: the registry's date of its last change, else of registration
    -- (the snapshot's updated_at, so a version is valid from the day the registry changed it).
    coalesce(updated_on, registered_on)::timestamp as changed_on
from (
    select
        e.*,
        row_number() over (partition by e.uscc order by e.period_month desc, e.loaded_at desc) as recency
    from {{ ref('stg_provincial__enterprises') }} as e
) as ranked
where recency = 1
