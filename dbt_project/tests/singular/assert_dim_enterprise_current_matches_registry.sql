-- dim_enterprise against the registry (int_enterprises_latest): every enterprise its
-- province's registry still lists has exactly one current version, equal to its latest registry record
-- and valid from the registry's date of its last change; no other enterprise has a current version;
-- and the last version of a delisted enterprise ends on its delisting date (the first day of the month
-- of the first snapshot that lacks it).
with latest as (select * from {{ ref('int_enterprises_latest') }}),
listed as (select * from latest where not is_delisted),
current_versions as (select * from {{ ref('dim_enterprise') }} where is_current),
last_versions as (
    select distinct on (uscc) uscc, valid_to
    from {{ ref('dim_enterprise') }}
    order by uscc, valid_from desc
)
select coalesce(l.uscc, c.uscc) as uscc
from listed as l
full outer join current_versions as c on c.uscc = l.uscc
where l.uscc is null or c.uscc is null
   or (l.province_code, l.division_code, l.status, l.iot_adopted, l.fiveg_adopted, l.size_class, l.changed_on::date)
      is distinct from
      (c.province_code, c.division_code, c.status, c.iot_adopted, c.fiveg_adopted, c.size_class, c.valid_from::date)
union all
select d.uscc
from latest as d
inner join last_versions as v on v.uscc = d.uscc
where d.is_delisted and v.valid_to::date is distinct from d.changed_on::date
