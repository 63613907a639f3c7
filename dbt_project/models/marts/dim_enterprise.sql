{{ config(indexes=[{'columns': ['uscc', 'valid_from']}]) }}
-- The enterprise dimension with full history (type 2): one row per version of an enterprise's
-- registry record, from the snapshot snap_enterprises, with its validity interval. The snapshot's
-- delisting rows are not versions: they only end the last version of an enterprise the registry
-- stopped listing (valid_to), which then has no current version.
select
    s.uscc,
    md5(s.uscc || '|' || s.dbt_valid_from::text) as enterprise_version_key,
    s.province_code,
    s.enterprise_name,
    s.city,
    s.division_code,
    s.size_class,
    s.legal_representative,
    s.phone,
    s.iot_adopted,
    s.fiveg_adopted,
    s.registered_on,
    s.updated_on,
    s.status,
    (s.status = 'active') as is_active,
    s.period_month as last_published_month,
    s.dbt_valid_from::timestamptz as valid_from,
    s.dbt_valid_to::timestamptz as valid_to,
    (s.dbt_valid_to is null) as is_current
from {{ ref('snap_enterprises') }} as s
where s.is_delisted is not true  -- null on rows recorded before delisting was modelled
