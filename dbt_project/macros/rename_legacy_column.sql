{#-
  rename_legacy_column(relation, old, new): a pre-hook upgrade of a table dbt built under an earlier
  version, where a column had another name (the raw lineage column source_version, now
  source_version_id: the S3 version id). A snapshot of a raw table copies its columns, and dbt would
  add the new one beside the old, splitting each row's lineage over two columns; this renames the old
  one in place, or, where dbt has already added the new one, fills the new from the old and drops it.
  Does nothing when the table or the old column does not exist (a fresh warehouse).
-#}
{% macro rename_legacy_column(relation, old, new) %}
DO $$
BEGIN
    IF EXISTS (SELECT FROM information_schema.columns WHERE table_schema = '{{ relation.schema }}'
               AND table_name = '{{ relation.identifier }}' AND column_name = '{{ old }}') THEN
        IF EXISTS (SELECT FROM information_schema.columns WHERE table_schema = '{{ relation.schema }}'
                   AND table_name = '{{ relation.identifier }}' AND column_name = '{{ new }}') THEN
            UPDATE {{ relation }} SET {{ new }} = {{ old }} WHERE {{ new }} IS NULL AND {{ old }} IS NOT NULL;
            ALTER TABLE {{ relation }} DROP COLUMN {{ old }};
        ELSE
            ALTER TABLE {{ relation }} RENAME COLUMN {{ old }} TO {{ new }};
        END IF;
    END IF;
END
$$
{% endmacro %}
