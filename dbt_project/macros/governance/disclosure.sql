{#-
  Statistical disclosure control of the marts' aggregates, generated from column meta (docs/governance.md,
  "Disclosure control").

  Every mart column states what it describes in meta.disclosure:
    own                   the row's own unit: its keys and attributes, its figures, figures computed from its
                          own parts (an enterprise's devices, a province's own loads)
    {aggregate: sum | mean | share | rank | count,
     over: <the contributing unit's column>, within: [<the cell's key columns>],
     of: <the contributors' value column>, contributors: <model, default this mart>, cell: <name>}
                          a figure over other units: the cell is the rows sharing `within`; its contributors
                          are the units (`over`) with a positive `of`.
  and optionally derived_from: [<columns of the mart it is computed from>] (a share, a growth rate, a unit
  conversion), which the exchange partner's check reads: no level-2 or level-3 value may be computable
  from level-1 columns.

  The rule, for a role that cannot read every contributor of a cell: an aggregate of that cell is shown
  only when at least var('disclosure_min_contributors') (3) units contribute and no single one exceeds
  var('disclosure_dominance_share') (0.75) of the cell's total: the minimum frequency (threshold) rule and
  the (1, k) dominance rule of the ESSnet Handbook on Statistical Disclosure Control (Hundepool et al.,
  ch. 4, magnitude tables). Otherwise every aggregate of the cell is NULL together (a share times the
  other figures would give the total back: the complementary cells of the row), with the reason in the
  cell's flag column <cell>_suppression ('frequency', 'dominance'). A rank is never shown to such a role:
  order statistics pin values even in safe cells (three equal contributors, the first of them knows
  the others are equal to itself). A count of contributors is shown: it tells how many units reported,
  no unit's value.

  Who cannot read every contributor: a provincial analyst, for a cell spanning provinces (`within`
  without province_code); the exchange partner, for a level-1 aggregate whose contributors' value is
  not level 1. Those roles read the cell's aggregates from <mart>_disclosed (a view: the mart's rows as
  the role may see them, the aggregates suppressed by the rule); the mart's own aggregate columns are
  not granted to them. The national analyst and the steward read the mart unsuppressed.

  What is refused at compile time (fail closed): a cell spanning provinces over another model's units
  (the cells are computed from the mart's own rows), a level-1 aggregate the partner would need
  suppressed (grade it level 2, or aggregate level-1 values), and margins (two cells of the same units
  and value where one's key columns contain the other's): a suppressed cell could be recovered from
  its margin and the other cells, and no secondary suppression across cells is implemented.
-#}

{#- A SQL string literal of `text`, its quotes doubled (dbt.string_literal leaves them as they are). -#}
{% macro governance_literal(text) %}{{ return(dbt.string_literal(text | string | replace("'", "''"))) }}{% endmacro %}

{% macro governance_disclosure_params() %}
  {%- set p = {
      'min_contributors': var('disclosure_min_contributors', 3) | int,
      'dominance_share': var('disclosure_dominance_share', 0.75) | float,
  } -%}
  {#- A threshold below 2 or a share of 1 or more would turn the rule off without a word. -#}
  {%- if p.min_contributors < 2 or not (0 < p.dominance_share < 1) -%}
    {{ exceptions.raise_compiler_error("disclosure: disclosure_min_contributors must be 2 or more and disclosure_dominance_share between 0 and 1 (exclusive); got " ~ p) }}
  {%- endif -%}
  {{ return(p) }}
{% endmacro %}

{#- Each column's security level: 3 for personal data, none when ungraded. -#}
{% macro governance_column_levels(node) %}
  {%- set levels = {} -%}
  {%- for name, col in node.columns.items() -%}
    {%- set meta = governance_column_meta(col) -%}
    {%- set level = 3 if meta.get('personal_data') else (meta.get('security_level') | int
          if meta.get('security_level') | string in ('1', '2', '3') else none) -%}
    {%- do levels.update({name | lower: level}) -%}
  {%- endfor -%}
  {{ return(levels) }}
{% endmacro %}

{% macro governance_disclosure_kinds() %}
  {{ return(['sum', 'mean', 'share', 'rank', 'count']) }}
{% endmacro %}

{#- The problems of a mart's disclosure meta, as a list of (column, problem); empty when it is sound. The
    dbt test assert_marts_declare_disclosure reports them; apply_governance refuses a mart that has any. -#}
{% macro governance_disclosure_problems(node) %}
  {%- set problems = [] -%}
  {%- set names = node.columns.keys() | map('lower') | list -%}
  {%- set levels = governance_column_levels(node) -%}
  {%- for name, col in node.columns.items() -%}
    {%- set meta = governance_column_meta(col) -%}
    {%- set d = meta.get('disclosure') -%}
    {%- if d is none -%}
      {%- do problems.append((name, "no meta.disclosure: say 'own', or what the column aggregates over")) -%}
    {%- elif d is string -%}
      {%- if d != 'own' -%}{%- do problems.append((name, "meta.disclosure '" ~ d ~ "' is not 'own' nor a mapping")) -%}{%- endif -%}
    {%- elif d is mapping -%}
      {%- if d.get('aggregate') not in governance_disclosure_kinds() -%}
        {%- do problems.append((name, "meta.disclosure.aggregate must be one of " ~ governance_disclosure_kinds() | join(', '))) -%}
      {%- endif -%}
      {%- if not d.get('over') -%}{%- do problems.append((name, "meta.disclosure.over: the contributing unit's column")) -%}{%- endif -%}
      {%- if d.get('within') is string or d.get('within') is none -%}
        {%- do problems.append((name, "meta.disclosure.within: the list of the cell's key columns")) -%}
      {%- else -%}
        {%- for k in d.within if k | lower not in names -%}
          {%- do problems.append((name, "meta.disclosure.within: " ~ k ~ " is not a column of the mart")) -%}
        {%- endfor -%}
      {%- endif -%}
      {%- set complete = d.get('complete') -%}
      {%- if complete is not none and (complete is not mapping or not complete.get('dataset')
            or (complete.get('period') or '') | lower not in (d.get('within') or []) | map('lower') | list) -%}
        {%- do problems.append((name, "meta.disclosure.complete: {dataset: <the loads' dataset>, period: <a within column>}")) -%}
      {%- endif -%}
      {%- if d.get('aggregate') != 'count' and not d.get('of') -%}
        {%- do problems.append((name, "meta.disclosure.of: the contributors' value column")) -%}
      {%- endif -%}
      {%- if not d.get('contributors') -%}
        {%- for k in [d.get('over'), d.get('of')] if k and k | lower not in names -%}
          {%- do problems.append((name, "meta.disclosure: " ~ k ~ " is not a column of the mart (name the contributors' model)")) -%}
        {%- endfor -%}
      {%- endif -%}
    {%- else -%}
      {%- do problems.append((name, "meta.disclosure must be 'own' or a mapping")) -%}
    {%- endif -%}
    {%- set derived = meta.get('derived_from') -%}
    {%- if derived is not none -%}
      {%- if derived is string or derived | length == 0 -%}
        {%- do problems.append((name, "meta.derived_from: a list of the mart's columns")) -%}
      {%- else -%}
        {%- set unknown = derived | reject('in', names) | list -%}
        {%- if unknown -%}
          {%- do problems.append((name, "meta.derived_from: " ~ unknown | join(', ') ~ " not columns of the mart")) -%}
        {%- else -%}
          {#- The exchange partner reads level 1: of a column and what it is computed from, exactly one
              above level 1 would be the one unknown of an equation it can solve (a share times a total). -#}
          {%- set members = [name | lower] + derived | map('lower') | list -%}
          {%- set hidden = [] -%}
          {%- for m in members if levels.get(m) is none or levels.get(m) > 1 -%}{%- do hidden.append(m) -%}{%- endfor -%}
          {%- if hidden | length == 1 -%}
            {%- do problems.append((name, "a level-2/3 value is computable from the level-1 columns of " ~ members | join(', '))) -%}
          {%- endif -%}
        {%- endif -%}
      {%- endif -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(problems) }}
{% endmacro %}

{#- The cells of a mart that some role reads only under the rule: a list of
    {cell, over, within, of, columns: [(name, kind, data_type)], provincial: bool, partner: bool}.
    Compile error for what the rule cannot protect (see above). -#}
{% macro governance_disclosure_cells(node) %}
  {%- set groups = {} -%}
  {%- set order = [] -%}
  {%- set levels = governance_column_levels(node) -%}
  {%- for name, col in node.columns.items() -%}
    {%- set meta = governance_column_meta(col) -%}
    {%- set d = meta.get('disclosure') -%}
    {%- if d is mapping -%}
      {%- set within = d.within | map('lower') | list -%}
      {%- set spans_provinces = 'province_code' not in within -%}
      {%- set own_rows = not d.get('contributors') or d.contributors == node.name -%}
      {%- set contributor_level = (levels.get((d.get('of') or '') | lower) if d.get('of') else 1) if own_rows
            else governance_contributor_level(d.contributors, d.get('of')) -%}
      {%- set partner = meta.get('security_level') | int == 1 and d.aggregate != 'count'
            and (contributor_level is none or contributor_level > 1) -%}
      {%- if partner -%}
        {{ exceptions.raise_compiler_error("disclosure: " ~ node.name ~ "." ~ name ~ " is a level-1 aggregate of values the exchange partner cannot read: grade it level 2") }}
      {%- endif -%}
      {%- if spans_provinces and d.aggregate != 'count' -%}
        {%- if not own_rows -%}
          {{ exceptions.raise_compiler_error("disclosure: " ~ node.name ~ "." ~ name ~ " spans provinces over the units of " ~ d.contributors ~ ": the rule computes cells from the mart's own rows") }}
        {%- endif -%}
        {%- set key = [d.over | lower, within | sort | join(','), (d.get('of') or '') | lower] | join('|') -%}
        {%- if key not in groups -%}
          {%- do groups.update({key: {'cell': d.get('cell', 'cell'), 'over': d.over | lower, 'within': within,
                                      'of': d.of | lower, 'complete': d.get('complete'), 'columns': []}}) -%}
          {%- do order.append(key) -%}
        {%- endif -%}
        {%- do groups[key].columns.append((name, d.aggregate, col.get('data_type') or 'numeric')) -%}
      {%- endif -%}
    {%- endif -%}
  {%- endfor -%}
  {%- set cells = [] -%}
  {%- for key in order -%}{%- do cells.append(groups[key]) -%}{%- endfor -%}
  {%- for a in cells -%}
    {%- for b in cells if a is not sameas b and a.over == b.over and a.of == b.of
          and a.within | reject('in', b.within) | list | length == 0 -%}
      {{ exceptions.raise_compiler_error("disclosure: " ~ node.name ~ ": cell " ~ a.cell ~ " is a margin of cell " ~ b.cell ~ " (secondary suppression across cells is not implemented)") }}
    {%- endfor -%}
  {%- endfor -%}
  {%- set flags = cells | map(attribute='cell') | list -%}
  {%- if flags | unique | list | length != flags | length -%}
    {{ exceptions.raise_compiler_error("disclosure: " ~ node.name ~ ": two cells named alike (meta.disclosure.cell)") }}
  {%- endif -%}
  {{ return(cells) }}
{% endmacro %}

{#- The security level of column `column` of model `model_name` (3 for personal data); none when the
    model or column is not in the graph or ungraded. -#}
{% macro governance_contributor_level(model_name, column) %}
  {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == model_name -%}
    {{ return(governance_column_levels(node).get((column or '') | lower)) }}
  {%- endfor -%}
  {{ return(none) }}
{% endmacro %}

{% macro governance_disclosed_relation(relation) %}
  {{ return(relation.incorporate(path={'identifier': relation.identifier ~ '_disclosed'}, type='view')) }}
{% endmacro %}

{% macro governance_cells_relation(relation, cell) %}
  {{ return(relation.incorporate(path={'identifier': relation.identifier ~ '__' ~ cell.cell ~ '_cells'}, type='table')) }}
{% endmacro %}

{#- The relation of model `name` (found in the graph, as the provinces seed is). -#}
{% macro governance_model_relation(name) %}
  {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == name and node.package_name == project_name -%}
    {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias)) }}
  {%- endfor -%}
  {{ exceptions.raise_compiler_error("disclosure: no model named '" ~ name ~ "' in the project") }}
{% endmacro %}

{#- SQL: each cell table (the contributors' count, the largest one's share, the reason a cell is
    suppressed; the transformer's alone), cell tables of cells no longer declared dropped, and the
    <mart>_disclosed view over them. Columns of `node` in order: those in `withheld` (ungraded, or
    without disclosure meta) NULL, personal ones masked (governance_mask_expression), the cells'
    aggregates under the rule, a <cell>_suppression flag per cell. Nothing when no cell is protected
    (the view dropped). Reasons, in order: 'incomplete' (meta.disclosure.complete: not every province
    has loaded the cell's period yet, so a later total minus this one would be the late province's
    figure), 'frequency', 'dominance'; in the view, 'several provinces' for a reader holding more than
    one provincial role (its provinces' rows together, subtracted from a total of three, would give
    the third). -#}
{% macro governance_disclosure_sql(relation, node, cells, withheld=[]) %}
  {%- set p = governance_disclosure_params() -%}
  {%- set r = governance_roles() -%}
  {%- set disclosed = governance_disclosed_relation(relation) -%}
  {%- set kept = [] -%}
  {%- for c in cells -%}{%- do kept.append(governance_cells_relation(relation, c).identifier) -%}{%- endfor -%}
DROP VIEW IF EXISTS {{ disclosed }};
DO $governance$
DECLARE
  stale text;
BEGIN
  FOR stale IN
    SELECT c.relname FROM pg_catalog.pg_class AS c
    WHERE c.relnamespace = {{ governance_literal(relation.schema) }}::regnamespace AND c.relkind = 'r'
      AND c.relname LIKE {{ governance_literal(relation.identifier | replace('_', '\\_') ~ '\\_\\_%\\_cells') }}
      AND c.relname <> ALL (ARRAY[{% for k in kept %}{{ governance_literal(k) }}{{ ', ' if not loop.last }}{% endfor %}]::text[])
  LOOP
    EXECUTE format('DROP TABLE %I.%I', {{ governance_literal(relation.schema) }}, stale);
  END LOOP;
END
$governance$;
  {%- if cells %}
    {%- set by_column = {} -%}
    {%- for c in cells -%}
      {%- for name, kind, data_type in c.columns -%}{%- do by_column.update({name: (loop.index0, c, kind, data_type)}) -%}{%- endfor -%}
    {%- endfor %}
    {%- for c in cells %}
      {%- set t = governance_cells_relation(relation, c) -%}
      {%- set v = adapter.quote(c.of) -%}
      {%- set keys = c.within | map('lower') | list -%}
DROP TABLE IF EXISTS {{ t }};
-- One row per contributor first (a unit may hold several rows of a cell), then the rule per cell.
CREATE TABLE {{ t }} AS
WITH contributions AS (
  SELECT {% for k in keys %}{{ adapter.quote(k) }}, {% endfor %}{{ adapter.quote(c.over) }} AS unit, sum({{ v }}) AS value
  FROM {{ relation }}
  GROUP BY {% for k in keys %}{{ adapter.quote(k) }}, {% endfor %}{{ adapter.quote(c.over) }}
),
cells AS (
  SELECT {% for k in keys %}{{ adapter.quote(k) }}, {% endfor %}
         count(*) FILTER (WHERE value > 0) AS contributors,
         max(value) FILTER (WHERE value > 0) AS largest,
         sum(value) FILTER (WHERE value > 0) AS total
  FROM contributions
  GROUP BY {% for k in keys %}{{ adapter.quote(k) }}{{ ', ' if not loop.last }}{% endfor %}
)
SELECT {% for k in keys %}cells.{{ adapter.quote(k) }}, {% endfor %}
       cells.contributors,
       cells.largest / nullif(cells.total, 0) AS largest_share,
       CASE
      {%- if c.complete %}
         {%- set audit = governance_model_relation('int_load_audit_latest') %}
         WHEN (SELECT count(DISTINCT a.province_code) FROM {{ audit }} AS a
               WHERE a.dataset = {{ governance_literal(c.complete.dataset) }}
                 AND a.period_month = cells.{{ adapter.quote(c.complete.period | lower) }})
              < (SELECT count(*) FROM ({{ governance_provincial_roles_query() }}) AS provinces)
           THEN 'incomplete'
      {%- endif %}
         WHEN cells.contributors < {{ p.min_contributors }} THEN 'frequency'
         WHEN cells.largest > {{ p.dominance_share }} * cells.total THEN 'dominance'
       END AS suppression
FROM cells;
ALTER TABLE {{ t }} OWNER TO {{ r.transformer }};
REVOKE ALL ON {{ t }} FROM PUBLIC;
COMMENT ON TABLE {{ t }} IS {{ governance_literal("Disclosure control of " ~ relation.identifier ~ ", cell " ~ c.cell ~ " (by " ~ c.within | join(', ') ~ "): contributors, largest share, suppression reason. Read by the transformer alone; generated by apply_governance.") }};
    {%- endfor %}
CREATE VIEW {{ disclosed }} WITH (security_barrier = true) AS
WITH reader AS (
  -- How many provinces' rows the reader holds (the national analyst and the steward read the mart itself).
  SELECT count(*) > 1 AS several
  FROM pg_catalog.pg_roles AS pr
  WHERE pr.rolname LIKE '{{ r.provincial_prefix | replace("_", "\\_") }}%' AND pr.rolname <> '{{ r.national }}'
    AND pg_catalog.pg_has_role(current_user, pr.oid, 'MEMBER')
)
SELECT
    {%- for name, col in node.columns.items() %}
      {%- set meta = governance_column_meta(col) -%}
      {%- set q = adapter.quote(name) %}
    {% if name | lower in withheld -%}
    NULL::{{ col.get('data_type') or 'text' }} AS {{ q }},
    {%- elif name in by_column -%}
      {%- set i, c, kind, data_type = by_column[name] -%}
      {%- if kind == 'rank' -%}
    NULL::{{ data_type }} AS {{ q }},
      {%- else -%}
    CASE WHEN c_{{ cells.index(c) }}.contributors IS NOT NULL AND c_{{ cells.index(c) }}.suppression IS NULL AND NOT reader.several
      THEN m.{{ q }} END AS {{ q }},
      {%- endif -%}
    {%- elif meta.get('personal_data') -%}
    {{ governance_mask_expression(name, col.get('data_type'), meta.get('mask')) }} AS {{ q }},
    {%- else -%}
    m.{{ q }},
    {%- endif -%}
    {%- endfor %}
    {%- for c in cells %}
    coalesce(c_{{ loop.index0 }}.suppression, CASE WHEN c_{{ loop.index0 }}.contributors IS NULL THEN 'no cell'
      WHEN reader.several THEN 'several provinces' END) AS {{ adapter.quote(c.cell ~ '_suppression') }}{{ ',' if not loop.last }}
    {%- endfor %}
FROM {{ relation }} AS m
CROSS JOIN reader
    {%- for c in cells %}
      {%- set ci = loop.index0 %}
LEFT JOIN {{ governance_cells_relation(relation, c) }} AS c_{{ ci }}
  ON {% for k in c.within %}c_{{ ci }}.{{ adapter.quote(k) }} IS NOT DISTINCT FROM m.{{ adapter.quote(k) }}{{ ' AND ' if not loop.last }}{% endfor %}
    {%- endfor %};
COMMENT ON VIEW {{ disclosed }} IS {{ governance_literal(relation.identifier ~ " as roles that cannot read every contributor see it: aggregates of a cell not yet loaded by every province, with fewer than " ~ p.min_contributors ~ " contributors or one over " ~ p.dominance_share ~ " of its total are NULL (reason in " ~ cells | map(attribute='cell') | map('string') | join('_suppression, ') ~ "_suppression), ranks withheld; rows filtered as in the mart. Generated by apply_governance.") }};
ALTER VIEW {{ disclosed }} OWNER TO {{ r.transformer }};
REVOKE ALL ON {{ disclosed }} FROM PUBLIC;
  {%- endif %}
{% endmacro %}
