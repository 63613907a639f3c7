"""The user's ``.local/ibdc.env`` (what their shell sources to reach the stack) is written by the user's
verbs alone: the tests' stack leaves it byte for byte as it was (or absent), and ``ibdc-dev up`` run in
the user's environment points it at the user's warehouse, never the tests' (``ibdc_test``). Every test
run checks the first too, at its end (tests/conftest.py)."""

import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from ibdc_dev.localstack import stack
from ibdc_dev.localstack.env import USER_ENV_FILE, read_env_file

pytestmark = pytest.mark.integration


def _bytes_or_none():
    return USER_ENV_FILE.read_bytes() if USER_ENV_FILE.exists() else None


def test_the_tests_stack_leaves_the_user_s_env_file_as_it_was(services):
    before = _bytes_or_none()
    assert stack.up(say=lambda m: None).warehouse_db == "ibdc_test"
    assert _bytes_or_none() == before


def test_up_in_the_user_s_environment_writes_the_user_s_warehouse(services, user_environ, keep_user_env_file):
    def run(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, *args], env=user_environ, capture_output=True, text=True, timeout=120, check=False
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    database = "import urllib.parse as u, ibdc.settings as s; print(u.urlsplit(s.get_settings().warehouse).path)"
    user_database = run("-c", database).strip()
    assert user_database and user_database != "/ibdc_test"
    run("-m", "ibdc_dev.cli", "up")
    written = read_env_file(keep_user_env_file)
    assert urlsplit(written["IBDC_WAREHOUSE_DSN"]).path == user_database
