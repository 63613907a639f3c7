"""IBDC: the Industrial Big Data Centre platform library.

Sub-packages follow the data flow: ``sources`` (registry and adapters) -> ``landing`` (raw zone) ->
``parsing`` -> ``loading`` -> ``transform`` (dbt). ``settings`` is the one place that reads
configuration. The development harness (simulator, local stack, benchmarks) is the separate package
``ibdc_dev`` (``dev/``), which this one never imports.
"""

__version__ = "0.1.0"
