"""Running dbt (dbt-core's programmatic runner) and configuring cosmos for the same project."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ibdc.settings import PROJECT_DIR, get_settings

DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
DBT_TARGET_DIR = DBT_PROJECT_DIR / "target"
MANIFEST = DBT_TARGET_DIR / "manifest.json"
DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"


class DbtError(RuntimeError):
    pass


def export_dbt_env() -> None:
    """Put the warehouse connection where ``dbt_project/profiles.yml`` reads it."""
    os.environ.update(get_settings().dbt_env())


def run_dbt(*args: str, check: bool = True) -> object:
    """Run one dbt command in-process against the project; raises DbtError when it fails (with
    ``check=False``: only when it could not run at all, not when what it checked failed)."""
    from dbt.cli.main import dbtRunner

    export_dbt_env()
    argv = [*args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    result = dbtRunner().invoke(argv)
    if not result.success and (check or result.exception is not None or result.result is None):
        raise DbtError(f"dbt {' '.join(args)} failed: {result.exception or 'see the dbt log above'}")
    return result.result


def cosmos_configs():
    """ProjectConfig, ProfileConfig, ExecutionConfig and RenderConfig for the transform DAG.

    The graph is read from the dbt manifest (``dbt parse`` writes it), so parsing the DAG file never
    invokes dbt.
    """
    from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

    return (
        ProjectConfig(dbt_project_path=DBT_PROJECT_DIR, manifest_path=MANIFEST, install_dbt_deps=False),
        ProfileConfig(profile_name="ibdc", target_name="local", profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml"),
        # "buildable": a node's build runs the tests whose other parents are upstream of it, so a
        # relationship test runs with its model, never with the seed it points to.
        ExecutionConfig(
            dbt_executable_path=str(DBT_EXECUTABLE),
            invocation_mode=InvocationMode.DBT_RUNNER,
            test_indirect_selection=TestIndirectSelection.BUILDABLE,
        ),
        RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.BUILD),
    )
