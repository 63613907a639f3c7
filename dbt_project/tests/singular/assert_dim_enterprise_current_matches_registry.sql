-- The current version of every enterprise in dim_enterprise equals its latest registry record, is
-- valid from the registry's date of its last change, and every enterprise in the registry has exactly
-- one current version.
with latest as (select * from {{ ref('stg_provincial__enterprises_latest') }}),
current_versions as (select * from {{ ref('dim_enterprise') }} where is_current)
select coalesce(l.uscc, c.uscc) as uscc
from latest as l
full outer join current_versions as c on c.uscc = l.uscc
where l.uscc is null or c.uscc is null
   or (l.province_code, l.division_code, l.status, l.iot_adopted, l.fiveg_adopted, l.size_class, l.changed_on::date)
      is distinct from
      (c.province_code, c.division_code, c.status, c.iot_adopted, c.fiveg_adopted, c.size_class, c.valid_from::date)
