"""The extract DAGs' params refuse what the platform's periods refuse (issue 13, point 5): Airflow
checks a Param's JSON-schema ``pattern`` with Python's ``re.search``, where ``\\d`` takes any Unicode
digit and ``$`` a trailing newline."""

import pytest

from ibdc.datasets import DATASETS
from ibdc.settings import PROJECT_DIR

GOOD = {"monthly": "2022-06", "daily": "2022-06-30"}
BAD = {
    "monthly": ["2022-06\n", "２０２２-06", "٢٠٢٢-06", " 2022-06", "2022-13"],
    "daily": ["2022-06-30\n", "２０２２-06-30", "2022-06-3０", "2022-06-31 "],
}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_DIR / "dags"))


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_the_period_param_accepts_only_strict_periods(dagbag, dataset):
    from airflow.sdk.exceptions import ParamValidationError

    param = dagbag.dags[f"ibdc_extract_{dataset}"].params.get_param("period")
    cadence = DATASETS[dataset].cadence
    assert param.resolve(GOOD[cadence]) == GOOD[cadence]
    for bad in BAD[cadence]:
        with pytest.raises(ParamValidationError):
            param.resolve(bad)


def test_the_provinces_param_accepts_only_ascii_codes(dagbag):
    from airflow.sdk.exceptions import ParamValidationError

    param = dagbag.dags["ibdc_extract_industrial_output"].params.get_param("provinces")
    assert param.resolve(["110000"]) == ["110000"]
    for bad in (["110000\n"], ["１10000"]):
        with pytest.raises(ParamValidationError):
            param.resolve(bad)
