{#-
  Governance roles (cluster-wide) and the marts schema's privileges (per database).

  The roles are provisioned by an administrator (plugins/ibdc/governance.py: the same names, the
  provincial ones from the same GB/T 2260 code list); dbt, running as ibdc_transformer, checks they
  are there. The 31 provincial analyst roles are named ibdc_analyst_<adcode>, the codes read at run
  time from the `provinces` seed table (var governance_province_seed / governance_province_column),
  never from a list written here.
-#}

{#- The names plugins/ibdc/governance.py provisions (one place decides them: no var renames them here). -#}
{% macro governance_role_prefix() %}{{ return('ibdc_') }}{% endmacro %}

{% macro governance_roles() %}
  {% set p = governance_role_prefix() %}
  {{ return({
      'national': p ~ 'analyst_national',
      'provincial_prefix': p ~ 'analyst_',
      'partner': p ~ 'exchange_partner',
      'steward': p ~ 'steward',
      'loader': p ~ 'loader',
      'transformer': p ~ 'transformer',
  }) }}
{% endmacro %}

{#- The relation of the provinces seed, found in the graph (so a renamed schema or alias is followed). -#}
{% macro governance_province_relation() %}
  {% set seed_name = var('governance_province_seed', 'provinces') %}
  {% for node in graph.nodes.values() %}
    {% if node.resource_type == 'seed' and node.name == seed_name and node.package_name == project_name %}
      {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias)) }}
    {% endif %}
  {% endfor %}
  {{ exceptions.raise_compiler_error("governance: no seed named '" ~ seed_name ~ "' in the project") }}
{% endmacro %}

{#- SQL (a query) returning the name of every provincial analyst role. -#}
{% macro governance_provincial_roles_query() %}
  {%- set r = governance_roles() -%}
  {%- set col = var('governance_province_column', 'adcode') -%}
  select distinct {{ "'" ~ r.provincial_prefix ~ "'" }} || {{ adapter.quote(col) }}::text
  from {{ governance_province_relation() }} where {{ adapter.quote(col) }} is not null
{%- endmacro %}

{#-
  Check that the roles exist: they are provisioned by an administrator (`make up`, or `ibdc provision`
  on an external warehouse: plugins/ibdc/governance.py), because dbt runs as ibdc_transformer, which
  cannot create roles. The provincial ones are checked against the provinces seed when it exists.
-#}
{% macro governance_check_roles_sql(require_provinces=false) %}
  {%- set r = governance_roles() -%}
  {%- set fixed = [r.national, r.partner, r.steward, r.loader, r.transformer] -%}
  {%- set prov = governance_province_relation() -%}
DO $governance$
DECLARE
  missing text[];
  provincial_missing text[];
BEGIN
  SELECT array_agg(f) INTO missing
  FROM unnest(ARRAY[{% for f in fixed %}'{{ f }}'{{ ', ' if not loop.last }}{% endfor %}]::text[]) AS f
  WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = f);
  IF to_regclass('{{ prov }}') IS NOT NULL THEN
    EXECUTE $q$SELECT coalesce(array_agg(r), '{}') FROM ({{ governance_provincial_roles_query() }}) AS p(r)
               WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r)$q$
      INTO provincial_missing;
    missing := coalesce(missing, '{}') || provincial_missing;
  {%- if require_provinces %}
  ELSE
    RAISE EXCEPTION 'governance: % does not exist; build the provinces seed first', '{{ prov }}';
  {%- endif %}
  END IF;
  IF cardinality(missing) > 0 THEN
    RAISE EXCEPTION 'governance: roles % do not exist; an administrator provisions them (ibdc provision)', missing;
  END IF;
END
$governance$;
{% endmacro %}

{#- on-run-start: the roles are there, and the marts schema is open to its readers (the transformer
    owns the schema). Idempotent; needs a provisioned database: database privileges, the schemas and
    role creation are the administrator's (plugins/ibdc/governance.py). -#}
{% macro governance_on_run_start() %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set r = governance_roles() -%}
  {%- set readers = [r.national, r.partner, r.steward] -%}
{{ governance_check_roles_sql() }}
DO $governance$
DECLARE
  role_name text;
BEGIN
  -- Two dbt runs on one database (tests, cosmos tasks) would otherwise race on the same grants.
  PERFORM pg_advisory_xact_lock(hashtext('ibdc_governance'));
  IF to_regnamespace('marts') IS NULL THEN  -- the administrator's provisioning creates it
    RAISE EXCEPTION 'governance: schema marts does not exist; an administrator provisions it (ibdc provision)';
  END IF;
  -- Readers of the marts may look the schema up; tables are granted one by one (apply_governance).
  GRANT USAGE ON SCHEMA marts TO {{ readers | join(', ') }};
  IF to_regclass('{{ governance_province_relation() }}') IS NOT NULL THEN
    FOR role_name IN EXECUTE $q${{ governance_provincial_roles_query() }}$q$ LOOP
      EXECUTE format('GRANT USAGE ON SCHEMA marts TO %I', role_name);
    END LOOP;
  END IF;
END
$governance$;
{% endmacro %}
