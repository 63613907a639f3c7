"""Airflow logins under the FAB auth manager: a user made or updated with one role, and the roles that
read the dbt docs given their view. Compose's ``airflow-init`` and the local stack both run
``python -m ibdc.airflow_users <username> <role>`` after ``airflow db migrate`` (which creates FAB's
tables and its roles: Admin, Op, User, Viewer, Public), with the Airflow configuration of the
deployment and the password in ``IBDC_AIRFLOW_USER_PASSWORD``: never on the command line, which every
user of the host sees in ``ps``.
"""

from __future__ import annotations

import os
import sys

from ibdc.transform.docs import grant_docs_view

PASSWORD_VAR = "IBDC_AIRFLOW_USER_PASSWORD"


def ensure_user(username: str, role_name: str, password: str) -> None:
    """Make ``username`` a user with ``role_name`` alone and ``password``, active, creating it when
    missing (idempotent: a changed password rotates it); also gives the docs view to the roles that
    read the docs (:func:`ibdc.transform.docs.grant_docs_view`). SystemExit when the role does not
    exist (``airflow db migrate`` not run) or FAB refuses the user."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    grant_docs_view()
    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        role = sm.find_role(role_name)
        if role is None:
            raise SystemExit(f"no FAB role {role_name!r}: run airflow db migrate first")
        user = sm.find_user(username=username)
        if user is None:
            if not sm.add_user(username, username, "(ibdc)", f"{username}@ibdc.invalid", role, password):
                raise SystemExit(f"could not create the Airflow user {username!r}")
            return
        user.roles = [role]
        user.active = True
        sm.update_user(user)
        sm.reset_password(user.id, password)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit(f"usage: {PASSWORD_VAR}=... python -m ibdc.airflow_users <username> <role>")
    password = os.environ.pop(PASSWORD_VAR, "")
    if not password:
        raise SystemExit(f"{PASSWORD_VAR} is not set: the user's password comes through the environment")
    ensure_user(args[0], args[1], password)
    print(f"Airflow user {args[0]!r} has role {args[1]!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
