"""The dbt project's manifest for unit tests: where ``make test`` (or ``DBT_TARGET_PATH``) wrote it,
parsed here first when a bare ``pytest tests/unit`` runs without it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ibdc.transform.dbt import DBT_PROJECT_DIR


def manifest_path() -> Path:
    target = os.environ.get("DBT_TARGET_PATH")
    if target:
        target_dir = Path(target) if Path(target).is_absolute() else DBT_PROJECT_DIR / target
    else:
        target_dir = DBT_PROJECT_DIR / "target"
    return target_dir / "manifest.json"


def project_manifest() -> dict:
    """The manifest as a dict (``dbt parse`` run first when it is missing)."""
    path = manifest_path()
    if not path.exists():
        from ibdc.transform.dbt import run_dbt

        run_dbt("parse", "--quiet")
    return json.loads(path.read_text())
