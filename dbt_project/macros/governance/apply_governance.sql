{#-
  apply_governance(relation): grants, row-level security and masking of one mart, generated from the
  meta of its columns in the graph (the mart's YAML beside it, models/marts/<mart>.yml). Configured
  once, as a post-hook of the `marts` folder in dbt_project.yml, so each mart is governed inside the
  transaction that (re)builds it, whether dbt runs the whole project or cosmos runs the models one by one.

  From each column's meta:
    security_level 1       -> ibdc_exchange_partner may select it (column-level GRANT SELECT (cols))
    personal_data: true    -> only ibdc_steward selects it; everyone else reads the <mart>_masked view, where it
                              is a keyed hash of fixed length, or NULL (governance_mask_expression, below)
    any other column       -> every analyst role (national and the 31 provincial roles) may select it, except
                              the aggregates of cells spanning provinces: provincial analysts read those through
                              <mart>_disclosed, suppressed by the disclosure rule (macros/governance/disclosure.sql)
    no valid meta          -> steward only (fail closed, with a warning; the unit test fails on it); without
                              meta.disclosure, withheld from provincial analysts and the partner (the dbt test
                              assert_marts_declare_disclosure fails on it)
  Rows: every mart gets RLS, ENABLEd and FORCEd, with one SELECT policy: national analyst, steward
    and exchange partner see every row; ibdc_analyst_<code> sees the rows of province <code> (a mart
    without a province_code column shows provincial analysts nothing: fail closed) (membership is tested with pg_has_role, so a LOGIN user granted the role works
    as well as SET ROLE). The owner (ibdc_transformer) is subject to RLS too (FORCE): it reads and writes every row
    by its own explicit policy (ibdc_pipeline_rows), which no other role has. Nobody else is granted
    INSERT/UPDATE/DELETE on a mart.
-#}

{% macro governance_column_meta(col) %}
  {%- set meta = {} -%}
  {%- do meta.update(col.get('meta') or {}) -%}
  {%- do meta.update((col.get('config') or {}).get('meta') or {}) -%}
  {{ return(meta) }}
{% endmacro %}

{% macro governance_node_for(relation) %}
  {%- if model is defined and model is mapping and model.get('unique_id') in graph.nodes -%}
    {%- set node = graph.nodes[model.unique_id] -%}
    {%- if node.alias | lower == relation.identifier | lower -%}{{ return(node) }}{%- endif -%}
  {%- endif -%}
  {%- for node in graph.nodes.values() -%}
    {%- if node.resource_type in ('model', 'snapshot') and node.alias | lower == relation.identifier | lower
          and node.schema | lower == relation.schema | lower -%}
      {{ return(node) }}
    {%- endif -%}
  {%- endfor -%}
  {{ exceptions.raise_compiler_error("governance: no node in the graph for " ~ relation) }}
{% endmacro %}

{#-
  Masking expression for a personal-data column: meta.mask = hash (default) | null.

  hash: 'hmac:' || hex of HMAC-SHA256(key, the value as UTF-8 text), the key a secret of 32 random bytes
    per database (governance.mask_key, made by the provisioning, plugins/ibdc/governance.py; readable
    by the masked views' owner, ibdc_transformer, alone). Every value masks to 69 characters, whatever its
    length; equal values mask alike, so analysts still join and count distinct persons and phones, but
    without the key nobody can tell which value a mask stands for. Why keyed: a name or a phone number
    has few possible values (a mobile number is 11 digits, 1[3-9] then 9 digits; the common surnames
    and given names fill a short list), so an unkeyed hash (the md5 this replaced) is reversed by
    hashing every candidate; and why not a prefix: the first character of a Chinese name is the surname,
    of a phone the kind of line, and the length narrows the rest. pgcrypto's hmac() is not shipped with
    every PostgreSQL (not in the local stack's), so the HMAC is built from the core sha256() as RFC 2104
    defines it: sha256(outer_pad || sha256(inner_pad || value)), the key's two padded forms stored.
    The key is read in the view's own subqueries, with its owner's rights: a reader sees the view's
    SQL, never the key. Without a key row the masks are NULL (fail closed; apply_governance checks it).
  null: NULL of the column's type (no join, no count: for columns even a pseudonym must not link).
  Anything else (the 'partial' prefix mask this replaced) fails the compilation.
-#}
{% macro governance_mask_expression(name, data_type, strategy) %}
  {%- set c = adapter.quote(name) -%}
  {%- set textual = (data_type or 'text') | lower in ('text', 'varchar', 'character varying', 'string') -%}
  {%- set strategy = strategy or ('hash' if textual else 'null') -%}
  {%- if strategy == 'hash' -%}
    case when {{ c }} is null then null else 'hmac:' || encode(pg_catalog.sha256(
      (select k.outer_pad from governance.mask_key as k)
      || pg_catalog.sha256((select k.inner_pad from governance.mask_key as k) || convert_to({{ c }}::text, 'UTF8'))
    ), 'hex') end
  {%- elif strategy == 'null' -%}
    null::{{ data_type or 'text' }}
  {%- else -%}
    {{ exceptions.raise_compiler_error("governance: mask '" ~ strategy ~ "' of column " ~ name ~ " is not one of hash, null") }}
  {%- endif -%}
{% endmacro %}

{% macro governance_masked_relation(relation) %}
  {{ return(relation.incorporate(path={'identifier': relation.identifier ~ '_masked'}, type='view')) }}
{% endmacro %}

{% macro apply_governance(relation) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set r = governance_roles() -%}
  {%- set node = governance_node_for(relation) -%}
  {%- set open_cols = [] -%}
  {%- set level1_cols = [] -%}
  {%- set personal = [] -%}
  {%- set view_select = [] -%}
  {%- set names = [] -%}
  {%- set withheld = [] -%}
  {%- for name, col in node.columns.items() -%}
    {%- set meta = governance_column_meta(col) -%}
    {%- do names.append(name | lower) -%}
    {%- if meta.get('security_level') | string not in ('1', '2', '3') or not meta.get('miit_domain') -%}
      {#- Fail closed: ungraded columns are granted to the steward only (tests/unit/test_dbt_governance.py fails). -#}
      {%- do exceptions.warn("governance: " ~ node.name ~ "." ~ name ~ " lacks meta miit_domain/security_level: steward only") -%}
      {%- do withheld.append(name | lower) -%}
    {%- elif meta.get('personal_data') -%}
      {%- do personal.append(name) -%}
      {%- do view_select.append(governance_mask_expression(name, col.get('data_type'), meta.get('mask')) ~ ' as ' ~ adapter.quote(name)) -%}
    {%- else -%}
      {%- do open_cols.append(adapter.quote(name)) -%}
      {%- do view_select.append(adapter.quote(name)) -%}
      {%- if meta.security_level | int == 1 -%}{%- do level1_cols.append(adapter.quote(name)) -%}{%- endif -%}
    {%- endif -%}
  {%- endfor -%}
  {#- Disclosure control (macros/governance/disclosure.sql): a column without sound disclosure meta is
      withheld from the provincial analysts and the partner (fail closed; assert_marts_declare_disclosure
      fails); the aggregates of cells a provincial analyst cannot see every contributor of are read by
      them through <mart>_disclosed only. -#}
  {%- set undeclared = [] -%}
  {%- for name, problem in governance_disclosure_problems(node) -%}
    {%- do undeclared.append(adapter.quote(name)) -%}
    {%- do withheld.append(name | lower) -%}
    {%- do exceptions.warn("governance: " ~ node.name ~ "." ~ name ~ ": " ~ problem ~ "; withheld from provincial analysts and the partner") -%}
  {%- endfor -%}
  {%- set cells = governance_disclosure_cells(node) -%}
  {%- set protected = [] -%}
  {%- for c in cells -%}{%- for name, kind, data_type in c.columns -%}{%- do protected.append(adapter.quote(name)) -%}{%- endfor -%}{%- endfor -%}
  {%- set provincial_cols = open_cols | reject('in', undeclared + protected) | list -%}
  {%- set level1_cols = level1_cols | reject('in', undeclared) | list -%}
  {%- set disclosed = governance_disclosed_relation(relation) -%}
  {%- set masked = governance_masked_relation(relation) -%}
  {%- set row_scoped = 'province_code' in names -%}
  {#- Never the owner (ibdc_transformer): revoking from it would cut the masked view off the mart. -#}
  {%- set everyone = [r.national, r.partner, r.steward, r.loader] -%}

-- One governance change at a time per database, held until the mart's transaction commits: the
-- grants below touch shared catalog rows (the database, the schema), which concurrent GRANTs from
-- other dbt threads or processes would fail on ("tuple concurrently updated").
SELECT pg_advisory_xact_lock(hashtext('ibdc_governance'));
{{ governance_check_roles_sql(require_provinces=true) }}
ALTER TABLE {{ relation }} OWNER TO {{ r.transformer }};
REVOKE ALL ON {{ relation }} FROM PUBLIC, {{ everyone | join(', ') }};
GRANT ALL ON {{ relation }} TO {{ r.transformer }};
GRANT USAGE ON SCHEMA {{ adapter.quote(relation.schema) }} TO {{ r.national }}, {{ r.partner }}, {{ r.steward }};
GRANT SELECT ON {{ relation }} TO {{ r.steward }};
{%- if level1_cols %}
GRANT SELECT ({{ level1_cols | join(', ') }}) ON {{ relation }} TO {{ r.partner }};
{%- endif %}
{%- if open_cols %}
GRANT SELECT ({{ open_cols | join(', ') }}) ON {{ relation }} TO {{ r.national }};
{%- endif %}
DROP VIEW IF EXISTS {{ masked }};
{%- if personal %}
DO $governance$
BEGIN
  -- The masks' key (the administrator's provisioning makes it): without it every mask would be NULL.
  IF to_regclass('governance.mask_key') IS NULL OR NOT EXISTS (SELECT FROM governance.mask_key) THEN
    RAISE EXCEPTION 'governance: no mask key (governance.mask_key); an administrator provisions it (ibdc provision)';
  END IF;
END
$governance$;
CREATE VIEW {{ masked }} WITH (security_barrier = true) AS
SELECT {{ view_select | join(',\n       ') }}
FROM {{ relation }};
COMMENT ON VIEW {{ masked }} IS {{ governance_literal("Masked copy of " ~ relation.identifier ~ " (personal data: " ~ personal | join(', ') ~ "); rows filtered as in the mart. Generated by apply_governance.") }};
ALTER VIEW {{ masked }} OWNER TO {{ r.transformer }};
REVOKE ALL ON {{ masked }} FROM PUBLIC;
GRANT SELECT ON {{ masked }} TO {{ r.national }}, {{ r.steward }};
{%- endif %}
{{ governance_disclosure_sql(relation, node, cells, withheld) }}
{%- if cells %}
GRANT SELECT ON {{ disclosed }} TO {{ r.national }}, {{ r.steward }};
{%- endif %}
DO $governance$
DECLARE
  role_name text;
BEGIN
  FOR role_name IN EXECUTE $q${{ governance_provincial_roles_query() }}$q$ LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA {{ adapter.quote(relation.schema) }} TO %I', role_name);
    EXECUTE format('REVOKE ALL ON {{ relation }} FROM %I', role_name);
    {%- if provincial_cols %}
    EXECUTE format('GRANT SELECT ({{ provincial_cols | join(", ") | replace("%", "%%") }}) ON {{ relation }} TO %I', role_name);
    {%- endif %}
    {%- if cells %}
    EXECUTE format('GRANT SELECT ON {{ disclosed }} TO %I', role_name);
    {%- elif personal %}
    EXECUTE format('GRANT SELECT ON {{ masked }} TO %I', role_name);
    {%- endif %}
  END LOOP;
END
$governance$;
ALTER TABLE {{ relation }} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{ relation }} FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS ibdc_governance_rows ON {{ relation }};
{{ governance_pipeline_policy(relation) }}
CREATE POLICY ibdc_governance_rows ON {{ relation }} AS PERMISSIVE FOR SELECT TO PUBLIC USING (
  pg_catalog.pg_has_role(current_user, '{{ r.national }}', 'MEMBER')
  OR pg_catalog.pg_has_role(current_user, '{{ r.steward }}', 'MEMBER')
  OR pg_catalog.pg_has_role(current_user, '{{ r.partner }}', 'MEMBER')
  {%- if row_scoped %}
  OR province_code IN (
    SELECT substr(pr.rolname, {{ r.provincial_prefix | length + 1 }})
    FROM pg_catalog.pg_roles AS pr
    WHERE pr.rolname LIKE '{{ r.provincial_prefix | replace("_", "\\_") }}%'
      AND pg_catalog.pg_has_role(current_user, pr.oid, 'MEMBER')
  )
  {%- endif %}
);
{% endmacro %}

{#-
  The transformer rebuilds a mart (incremental delete+insert, roll-ups, reconciliation tests): it reads
  and writes every row by this explicit policy, never by owning the table (RLS is FORCE'd). Also a
  pre-hook of the marts, so an incremental run on a mart governed before this policy existed works.
-#}
{% macro governance_pipeline_policy(relation) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
DO $governance$
BEGIN
  IF to_regclass('{{ relation }}') IS NOT NULL THEN
    DROP POLICY IF EXISTS ibdc_pipeline_rows ON {{ relation }};
    CREATE POLICY ibdc_pipeline_rows ON {{ relation }} AS PERMISSIVE FOR ALL
      TO {{ governance_roles().transformer }}
      -- The transformer itself, not its members (an analyst granted the owner role still sees only its
      -- province), and not through a masked view (owned by the transformer, read by an analyst: the
      -- view applies its owner's policies, but current_user is the analyst).
      USING (current_user = '{{ governance_roles().transformer }}'::name)
      WITH CHECK (current_user = '{{ governance_roles().transformer }}'::name);
  END IF;
END
$governance$;
{% endmacro %}
