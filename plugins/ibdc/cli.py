"""``ibdc``: the platform's own verbs, as a deployment runs them (its init container: ``ibdc provision``).

The settings come from the environment (``IBDC_*``, see :mod:`ibdc.settings`); the local stack's
developer verbs are ``ibdc-dev`` (the ``ibdc_dev`` package, not part of the platform).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from ibdc import governance
from ibdc.exchange import cli as exchange_cli
from ibdc.loading import retention, sessions
from ibdc.settings import Settings, get_settings
from ibdc.transform.dbt import run_dbt

# verb -> what it does (the developer's CLI offers the same verbs on the local stack).
VERBS = {
    "provision": "create the pipeline's roles, raw tables and privileges (IBDC_WAREHOUSE_DSN: an administrator's)",
    "dbt-parse": "write the dbt manifest the transform DAG is rendered from",
    "expire-telemetry": "drop raw telemetry days older than IBDC_TELEMETRY_RETENTION_DAYS (or --before), recorded"
    " in raw.load_audit (IBDC_WAREHOUSE_DSN: the table owner's, an administrator's)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ibdc", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)
    verbs = {verb: sub.add_parser(verb, help=text) for verb, text in VERBS.items()}
    verbs["expire-telemetry"].add_argument(
        "--before",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="the first day kept (default: today, UTC, less IBDC_TELEMETRY_RETENTION_DAYS)",
    )
    exchange_cli.add_parser(sub)
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.verb == "provision":
        governance.provision_warehouse(settings)
        print("provisioned the pipeline's roles, database privileges and schema owners", flush=True)
    elif args.verb == "dbt-parse":
        run_dbt("parse", "--quiet")
    elif args.verb == "expire-telemetry":
        return _expire_telemetry(settings, args.before)
    elif args.verb == "exchange":
        return exchange_cli.run(args, settings)
    return 0


def _expire_telemetry(settings: Settings, before: date | None) -> int:
    """Drop the raw telemetry days before ``before`` (default: the retention setting's cutoff), as the
    table's owner (the warehouse's administrator; never the loader), and say which."""
    if before is None:
        if settings.telemetry_retention_days is None:
            print("IBDC_TELEMETRY_RETENTION_DAYS is not set: every telemetry day is kept, nothing dropped", flush=True)
            return 0
        before = retention.retention_cutoff(settings.telemetry_retention_days)
        why = f"retention: {settings.telemetry_retention_days} days kept (IBDC_TELEMETRY_RETENTION_DAYS), days"
        why += f" before {before.isoformat()} dropped"
    else:
        why = f"retention: days before {before.isoformat()} dropped (ibdc expire-telemetry --before)"
    with sessions.connect(settings.warehouse, autocommit=True, settings=settings) as conn:
        dropped = retention.drop_telemetry_days_before(conn, before, why)
    if dropped:
        print(
            f"dropped {len(dropped)} telemetry days before {before.isoformat()} ({dropped[0]} to {dropped[-1]}),"
            " recorded in raw.load_audit (outcome dropped)",
            flush=True,
        )
    else:
        print(f"no telemetry day before {before.isoformat()}: nothing dropped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
