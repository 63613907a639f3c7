"""IBDC: the Industrial Big Data Centre platform library.

Sub-packages follow the data flow: ``sources`` (registry and adapters) -> ``landing`` (raw zone) ->
``parsing`` -> ``loading`` -> ``transform`` (dbt). ``simulator`` serves the local provincial sources
and ``localstack`` runs the local services. ``settings`` is the one place that reads configuration.
"""

__version__ = "0.1.0"
