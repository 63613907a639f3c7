-- Every mart column states in meta.disclosure what it describes (the row's own unit, or what it
-- aggregates over), and no level-2/3 value is computable from level-1 columns (meta.derived_from):
-- one row per problem (macros/governance/disclosure.sql). A mart whose cells the rule cannot protect
-- (a margin, a level-1 aggregate of values the exchange partner cannot read) fails to compile here.
{%- set problems = [] -%}
{%- if execute -%}
  {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.fqn[1] == 'marts' -%}
    {%- do governance_disclosure_cells(node) -%}
    {%- for column, problem in governance_disclosure_problems(node) -%}
      {%- do problems.append((node.name, column, problem)) -%}
    {%- endfor -%}
  {%- endfor -%}
{%- endif %}
{%- if problems %}
select * from (values
  {%- for model_name, column, problem in problems %}
  ({{ governance_literal(model_name) }}, {{ governance_literal(column) }}, {{ governance_literal(problem) }}){{ ',' if not loop.last }}
  {%- endfor %}
) as problems (model_name, column_name, problem)
{%- else %}
select null::text as model_name, null::text as column_name, null::text as problem where false
{%- endif %}
