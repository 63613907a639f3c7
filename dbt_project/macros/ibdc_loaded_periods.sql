{#
  The periods loaded since the transform's last successful build, from the var the transform DAG passes
  (`ibdc_loaded_periods`: JSON {dataset: [period, ...]}; see dags/transform_dbt.py).
#}
{% macro ibdc_loaded_periods(dataset) %}
    {%- set raw = var('ibdc_loaded_periods', '{}') -%}
    {%- set loaded = fromjson(raw) if raw is string else raw -%}
    {{ return((loaded or {}).get(dataset, [])) }}
{% endmacro %}

{#
  The `where` clause of an incremental model's run: rows whose `column` (a date: the day, or the
  first day of the month) falls in a period loaded since the last build for any of `datasets`, plus,
  with `years_after`, the same periods that many years later (whose year-on-year figures depend on
  them). Nothing when only other datasets were loaded; no filter at all (every
  period, a full rebuild) when no loaded periods were passed: a manual run or a plain `dbt build`.
#}
{% macro loaded_periods_filter(column, datasets, years_after=0) %}
    {%- set raw = var('ibdc_loaded_periods', '{}') -%}
    {%- set loaded = (fromjson(raw) if raw is string else raw) or {} -%}
    {%- set periods = [] -%}
    {%- for dataset in ([datasets] if datasets is string else datasets) -%}
        {%- for p in ibdc_loaded_periods(dataset) -%}
            {#- Strict, as ibdc.periods: ASCII digits and the whole text (re.match's $ takes a trailing
                newline, \d any Unicode digit); a day the calendar has is checked by PostgreSQL's date. -#}
            {%- set p = p | string -%}
            {%- if modules.re.fullmatch('[0-9]{4}-(0[1-9]|1[0-2])', p) -%}{%- set p = p ~ '-01' -%}{%- endif -%}
            {%- if not modules.re.fullmatch('[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])', p) -%}
                {{ exceptions.raise_compiler_error("ibdc_loaded_periods: not a period: " ~ tojson(p)) }}
            {%- endif -%}
            {%- for years in range(years_after + 1) -%}
                {%- do periods.append((p[:4] | int + years) ~ p[4:]) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if periods %}
    where {{ column }} in ({% for d in periods | unique | sort %}date '{{ d }}'{{ ", " if not loop.last }}{% endfor %})
    {%- elif loaded %}
    where false
    {%- endif -%}
{% endmacro %}
