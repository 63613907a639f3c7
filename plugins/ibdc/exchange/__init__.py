"""The industrial data-exchange market: data products, contracts, offers, negotiations, agreements
and a ledger, on the standards data spaces use.

One module per concern:

- ``contracts``: a data product's contract in the Open Data Contract Standard (ODCS v3), generated from
  the dbt manifest (columns, types, descriptions, MIIT classification, the dbt tests as quality,
  freshness, lineage), validated against the standard's JSON schema; the columns' classification the
  gate reads.
- ``policy``: offers and agreements as ODRL 2.2 policies (purpose, period of use, number of reads,
  recipient, the duty to delete after use).
- ``negotiation``: the Dataspace Protocol's contract negotiation states and who may move them.
- ``ledger``: the append-only, hash-chained record of every listing, decision, agreement, read and
  termination; ``verify`` names the first broken entry.
- ``market``: the rules (the gate) and the operations, on one database connection as ``ibdc_exchange``.
- ``api``: the REST API participants use (FastAPI, OpenAPI at ``/openapi.json``); ``cli``: ``ibdc exchange``.
- ``schema``: the tables and privileges, provisioned with the warehouse (``ibdc provision``).
"""
