-- Every enterprise the registry ever listed, as the registry now stands: its latest record, and whether
-- its province's registry has since stopped listing it. What the enterprise snapshot
-- (snapshots/_snapshots.yml, snap_enterprises) records history of.
--
-- A province's monthly registry snapshot lists every enterprise of the province, so an enterprise
-- missing from a later snapshot of its province is delisted: its row here is then a delisting marker
-- (is_delisted, changed_on = the first day of the month of the first snapshot that lacks it), which
-- ends its current version in the snapshot. Only snapshots that loaded whole count (the latest
-- successful load of the partition quarantined nothing): a quarantined record may be the enterprise
-- that seems missing. An enterprise listed again after such an absence opens a new version, valid from
-- the first day of the month that lists it again (or its registry change date, when later).
with records as (
    select * from {{ ref('stg_provincial__enterprises') }}
),

-- The registry snapshots that can delist: each province's months in raw whose latest load was whole.
complete_snapshots as (
    select s.province_code, s.period_month
    from (select distinct province_code, period_month from records) as s
    left join {{ ref('int_load_audit_latest') }} as a
        on a.dataset = 'enterprises' and a.province_code = s.province_code and a.period_month = s.period_month
    where coalesce(a.rows_quarantined, 0) = 0
),

latest as (
    select *
    from (
        select
            e.*,
            row_number() over (partition by e.uscc order by e.period_month desc, e.loaded_at desc) as recency,
            min(e.period_month) over (partition by e.uscc) as first_listed_month
        from records as e
    ) as ranked
    where recency = 1
),

-- The complete snapshots of an enterprise's province, after it was first listed, that lack it.
absences as (
    select l.uscc, l.period_month as last_listed_month, s.period_month
    from latest as l
    inner join complete_snapshots as s
        on s.province_code = l.province_code and s.period_month > l.first_listed_month
    where not exists (
        select 1
        from records as r
        where r.province_code = s.province_code and r.period_month = s.period_month and r.uscc = l.uscc
    )
),

gaps as (
    select
        uscc,
        min(period_month) filter (where period_month > last_listed_month) as delisted_month,
        max(period_month) filter (where period_month < last_listed_month) as last_absent_month
    from absences
    group by uscc
),

-- For an enterprise listed again after an absence: the first month of its current listing.
relisted as (
    select g.uscc, min(r.period_month) as relisted_month
    from gaps as g
    inner join latest as l on l.uscc = g.uscc
    inner join records as r
        on r.uscc = g.uscc and r.province_code = l.province_code and r.period_month > g.last_absent_month
    group by g.uscc
)

select
    l.province_code, l.period_month, l.uscc, l.enterprise_name, l.city, l.division_code, l.size_class,
    l.legal_representative, l.phone, l.iot_adopted, l.fiveg_adopted, l.registered_on, l.updated_on, l.status,
    (g.delisted_month is not null) as is_delisted,
    -- When the enterprise's entry took this form (the snapshot's updated_at): for a delisted enterprise,
    -- the first day of the first snapshot that lacks it; else the registry's date of its last change,
    -- else of registration (so a version is valid from the day the registry changed it), but not before
    -- the month it was listed again after an absence. greatest() ignores a null relisted_month.
    coalesce(
        g.delisted_month::timestamp,
        greatest(coalesce(l.updated_on, l.registered_on), r.relisted_month)::timestamp
    ) as changed_on
from latest as l
left join gaps as g on g.uscc = l.uscc
left join relisted as r on r.uscc = l.uscc
