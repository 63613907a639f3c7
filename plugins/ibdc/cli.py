"""``ibdc``: the platform's own verbs, as a deployment runs them (its init container: ``ibdc provision``).

The settings come from the environment (``IBDC_*``, see :mod:`ibdc.settings`); the local stack's
developer verbs are ``ibdc-dev`` (the ``ibdc_dev`` package, not part of the platform).
"""

from __future__ import annotations

import argparse
import sys

from ibdc import governance
from ibdc.settings import get_settings
from ibdc.transform.dbt import run_dbt

# verb -> what it does (the developer's CLI offers the same verbs on the local stack).
VERBS = {
    "provision": "create the pipeline's roles, raw tables and privileges (IBDC_WAREHOUSE_DSN: an administrator's)",
    "dbt-parse": "write the dbt manifest the transform DAG is rendered from",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ibdc", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)
    for verb, text in VERBS.items():
        sub.add_parser(verb, help=text)
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.verb == "provision":
        governance.provision_warehouse(settings)
        print("provisioned the pipeline's roles, database privileges and schema owners", flush=True)
    elif args.verb == "dbt-parse":
        run_dbt("parse", "--quiet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
