{#-
  Governance roles (cluster-wide, NOLOGIN group roles) and schema-level privileges (per database).

  Roles are created idempotently: a DO block checks pg_roles and tolerates a concurrent CREATE ROLE
  from another database of the same cluster. The 31 provincial analyst roles are named
  ibdc_analyst_<adcode>, the codes read at run time from the `provinces` seed table
  (var governance_province_seed / governance_province_column), never from a list written here.
-#}

{% macro governance_role_prefix() %}{{ return(var('governance_role_prefix', 'ibdc_')) }}{% endmacro %}

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

{#- PL/pgSQL statement creating role `expr` (a text expression) unless it exists. -#}
{% macro _governance_create_role_stmt(expr) -%}
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {{ expr }}) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', {{ expr }});
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;  -- created meanwhile from another session (roles are cluster-wide)
      END;
    END IF;
{%- endmacro %}

{#- Create the fixed roles, and the provincial ones when the provinces seed table exists. -#}
{% macro governance_create_roles_sql(require_provinces=false) %}
  {%- set r = governance_roles() -%}
  {%- set fixed = [r.national, r.partner, r.steward, r.loader, r.transformer] -%}
  {%- set prov = governance_province_relation() -%}
DO $governance$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY[{% for f in fixed %}'{{ f }}'{{ ', ' if not loop.last }}{% endfor %}]::text[] LOOP
    {{ _governance_create_role_stmt('role_name') }}
  END LOOP;
  IF to_regclass('{{ prov }}') IS NOT NULL THEN
    FOR role_name IN EXECUTE $q${{ governance_provincial_roles_query() }}$q$ LOOP
      {{ _governance_create_role_stmt('role_name') }}
    END LOOP;
  {%- if require_provinces %}
  ELSE
    RAISE EXCEPTION 'governance: % does not exist; build the provinces seed first', '{{ prov }}';
  {%- endif %}
  END IF;
END
$governance$;
{% endmacro %}

{#- on-run-start: roles, database and schema privileges. Idempotent; safe on an empty database. -#}
{% macro governance_on_run_start() %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set r = governance_roles() -%}
  {%- set readers = [r.national, r.partner, r.steward] -%}
{{ governance_create_roles_sql() }}
DO $governance$
DECLARE
  s text;
  role_name text;
BEGIN
  -- Two dbt runs on one database (tests, cosmos tasks) would otherwise race on the same grants.
  PERFORM pg_advisory_xact_lock(hashtext('ibdc_governance'));
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO {{ r.national }}, {{ r.partner }}, {{ r.steward }}, '
                 '{{ r.loader }}, {{ r.transformer }}', current_database());
  -- raw: the pipeline's loader writes, the transformer reads; nobody else.
  IF to_regnamespace('raw') IS NOT NULL THEN
    GRANT USAGE, CREATE ON SCHEMA raw TO {{ r.loader }};
    GRANT SELECT, INSERT, DELETE ON ALL TABLES IN SCHEMA raw TO {{ r.loader }};
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA raw TO {{ r.loader }};
    IF to_regclass('raw.load_audit') IS NOT NULL THEN
      GRANT UPDATE ON raw.load_audit TO {{ r.loader }};  -- closes its own audit row (outcome, counts)
    END IF;
    ALTER DEFAULT PRIVILEGES IN SCHEMA raw GRANT SELECT, INSERT, DELETE ON TABLES TO {{ r.loader }};
    ALTER DEFAULT PRIVILEGES IN SCHEMA raw GRANT SELECT ON TABLES TO {{ r.transformer }};
    ALTER DEFAULT PRIVILEGES FOR ROLE {{ r.loader }} IN SCHEMA raw GRANT SELECT ON TABLES TO {{ r.transformer }};
  END IF;
  -- raw and reference: read by the transformer.
  FOREACH s IN ARRAY ARRAY['raw', 'reference'] LOOP
    IF to_regnamespace(s) IS NOT NULL THEN
      EXECUTE format('GRANT USAGE ON SCHEMA %I TO {{ r.transformer }}', s);
      EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO {{ r.transformer }}', s);
    END IF;
  END LOOP;
  -- The dbt-built layers belong to the transformer (the superuser running dbt creates in them too).
  FOREACH s IN ARRAY ARRAY['staging', 'intermediate', 'marts', 'snapshots'] LOOP
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION {{ r.transformer }}', s);
    EXECUTE format('ALTER SCHEMA %I OWNER TO {{ r.transformer }}', s);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO {{ r.transformer }}', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO {{ r.transformer }}', s);
  END LOOP;
  -- Readers of the marts may look the schema up; tables are granted one by one (apply_governance).
  GRANT USAGE ON SCHEMA marts TO {{ readers | join(', ') }};
  IF to_regclass('{{ governance_province_relation() }}') IS NOT NULL THEN
    FOR role_name IN EXECUTE $q${{ governance_provincial_roles_query() }}$q$ LOOP
      EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), role_name);
      EXECUTE format('GRANT USAGE ON SCHEMA marts TO %I', role_name);
    END LOOP;
  END IF;
END
$governance$;
{% endmacro %}
