"""The local services of the embedded default stack: PostgreSQL cluster, S3 endpoint, source simulator.

Each is started only when its ``IBDC_*`` variable does not point at an existing service.
"""
