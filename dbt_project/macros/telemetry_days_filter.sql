{#
  The `where` clause of the OEE marts' incremental runs: the telemetry days the triggering loads
  wrote (macro ibdc_loaded_periods); nothing when the run was triggered by loads of other datasets
  only; no filter (every day in raw) when no loaded periods were passed (a manual run).
#}
{% macro telemetry_days_filter(column) %}
    {%- set raw = var('ibdc_loaded_periods', '{}') -%}
    {%- set loaded = (fromjson(raw) if raw is string else raw) or {} -%}
    {%- set days = ibdc_loaded_periods('equipment_telemetry') -%}
    {%- if days -%}
        {%- for d in days -%}
            {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', d | string) -%}
                {{ exceptions.raise_compiler_error("ibdc_loaded_periods: not a day: " ~ d) }}
            {%- endif -%}
        {%- endfor %}
    where {{ column }} in ({% for d in days %}date '{{ d }}'{{ ", " if not loop.last }}{% endfor %})
    {%- elif loaded %}
    where false
    {%- endif -%}
{% endmacro %}
