"""The URIs of the platform's Airflow assets, without importing Airflow (the exchange API and CLI store a
mart's beside its products): ``ibdc://warehouse/<schema>/<table>``, naming the table, not where the
warehouse runs, so they are the same in every deployment. The assets themselves: :mod:`ibdc.assets`."""

from __future__ import annotations

MART_PREFIX = "ibdc://warehouse/marts/"


def raw_asset_uri(dataset: str) -> str:
    return f"ibdc://warehouse/raw/{dataset}"


def mart_asset_uri(model: str) -> str:
    """The URI of the asset of the mart ``model`` (a dbt model of ``models/marts``, e.g.
    ``mart_industrial_output_monthly``); raises ``ValueError`` for a name that is not an identifier."""
    if not model or not model.isidentifier():
        raise ValueError(f"not a dbt model name: {model!r}")
    return f"{MART_PREFIX}{model}"


def mart_of_asset_uri(uri: str) -> str | None:
    """The mart whose asset ``uri`` is (:func:`mart_asset_uri`'s inverse); None for any other URI."""
    model = uri.removeprefix(MART_PREFIX)
    return model if uri.startswith(MART_PREFIX) and model.isidentifier() else None
