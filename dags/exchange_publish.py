"""Exchange publishing: a listed data product's new version published when the marts behind it are rebuilt."""

from airflow.sdk import AssetAny, dag, task

from ibdc.assets import mart_asset
from ibdc.exchange import contracts
from ibdc.orchestration import DEFAULT_ARGS
from ibdc.settings import get_settings

DOC = """
### Exchange publishing: data products as Delta tables

Runs whenever the transform DAG has rebuilt a mart and its tests passed (the mart's asset,
`mart.<model>`, `ibdc://warehouse/marts/<model>`: any of them). `products` reads from the market
(`exchange.products`) the listed, not withdrawn product versions built from the marts whose asset
events triggered the run (every listed product on a manual run), and `publish` runs once per product
version (a mapped task). Each publishes the product's rows (its columns of its relation, the mart or
its `_disclosed` view, only its province's rows, read as a national analyst through the market's
publication functions) as a new version of its Delta table at
`s3://<exchange bucket>/products/<product_id>/<version>`, puts its ODCS contract beside it
(`contract.json`) and records the publication (`exchange.publications`, a `product_published` ledger
entry). Rows equal to the table's latest version publish nothing. The logic is `ibdc.exchange.publish`;
`ibdc exchange publish` does the same by hand. Connects as the market's service role (`ibdc_exchange`)
and writes with the pipeline's S3 keys.
"""


def _marts() -> list[str]:
    """Every mart of the dbt manifest (the DAG waits for any of their assets)."""
    return contracts.marts(contracts.load_manifest())


@dag(
    dag_id="ibdc_exchange_publish",
    schedule=AssetAny(*(mart_asset(m) for m in _marts())),
    start_date=None,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["dataset:marts", "stage:exchange", "tool:deltalake", "cadence:on-asset"],
    doc_md=DOC,
)
def ibdc_exchange_publish():
    @task
    def products(triggering_asset_events=None) -> list[list[str]]:
        """[product_id, version] of each product version to publish."""
        from ibdc.exchange import publish

        marts = publish.marts_of_events(triggering_asset_events)
        return [list(p) for p in publish.products_of_marts(get_settings(), marts)]

    @task(max_active_tis_per_dagrun=4)
    def publish(product: list[str]) -> dict:
        """Publish one product version; its publication (or that its rows were unchanged)."""
        from ibdc.exchange import publish as publishing

        product_id, version = product
        return publishing.publish_product(get_settings(), product_id, version).model_dump(mode="json")

    publish.expand(product=products())


ibdc_exchange_publish()
