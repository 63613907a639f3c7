{#
  The periods of a dataset the triggering loads wrote, from the var the transform DAG passes
  (`ibdc_loaded_periods`: JSON {dataset: [period, ...]}). Incremental models delete and insert
  exactly these; none (a manual run, or a plain `dbt build`) means every period in raw.
#}
{% macro ibdc_loaded_periods(dataset) %}
    {%- set raw = var('ibdc_loaded_periods', '{}') -%}
    {%- set loaded = fromjson(raw) if raw is string else raw -%}
    {{ return((loaded or {}).get(dataset, [])) }}
{% endmacro %}
