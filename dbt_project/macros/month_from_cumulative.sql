{#
  The month's figure derived from NBS-style year-to-date figures, over window `window` (one series a
  year, ordered by `period`): February is January-February, so its year-to-date is the figure; a
  later month is its year-to-date minus the previous month's. Null when the previous month is not
  loaded, or was loaded after this one: a revision of the previous month changes this month's
  year-to-date too, so until this month is collected again the stored one predates the revision.
  (Any reload of the previous month after this one, a revision or not, voids the comparison until
  this month is loaded again: the check it feeds then skips that pair rather than guess.)
#}
{% macro month_from_cumulative(cumulative, period='period_month', loaded_at='loaded_at', window='w') %}
    case
        when extract(month from {{ period }}) = 2 then {{ cumulative }}
        when lag({{ period }}) over {{ window }} = {{ period }} - interval '1 month'
            and lag({{ loaded_at }}) over {{ window }} <= {{ loaded_at }}
            then {{ cumulative }} - lag({{ cumulative }}) over {{ window }}
    end
{% endmacro %}

{#
  The month's figure of an NBS-style series: the published current-month value where there is one,
  else the difference of the year-to-date figures (month_from_cumulative, over window `window`).
#}
{% macro month_figure(current, cumulative, period='period_month', loaded_at='loaded_at', window='w') %}
    coalesce({{ current }}, {{ month_from_cumulative(cumulative, period, loaded_at, window) }})
{% endmacro %}

{#
  The window month_from_cumulative reads: one series per province, `key` (product or division) and
  year, in month order. `alias` is the relation's alias in the query.
#}
{% macro year_series_window(alias, key) %}
    window w as (partition by {{ alias }}.province_code, {{ alias }}.{{ key }}, extract(year from {{ alias }}.period_month) order by {{ alias }}.period_month)
{% endmacro %}

{#
  Months a monthly figure covers under the NBS calendar: February's is January-February (2), others 1.
#}
{% macro months_covered(period='period_month') %}
    case when extract(month from {{ period }}) = 2 then 2 else 1 end
{% endmacro %}

{#
  Raw industrial output with the month's figure in both units (month_figure over raw itself, not over
  the models): what the reconciliation tests compare the marts with. A query, for a CTE's body.
#}
{% macro raw_output_month_figures() %}
    select
        o.province_code,
        o.period_month,
        o.product_code,
        o.value_cumulative,
        {{ month_figure('o.value_current_month', 'o.value_cumulative', 'o.period_month', 'o.loaded_at') }}
            as value_month,
        {{ month_figure('o.value_current_month_base', 'o.value_cumulative_base', 'o.period_month', 'o.loaded_at') }}
            as value_month_base
    from {{ source('raw', 'industrial_output') }} as o
    {{ year_series_window('o', 'product_code') }}
{% endmacro %}
