"""dbt: the project's location, its invocation, and the astronomer-cosmos configuration objects."""
