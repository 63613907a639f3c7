"""dbt docs: generated on every transform run, published to the docs bucket, and served from there
(inside the Airflow UI by the ``ibdc`` plugin, behind Airflow's login, and standalone on 127.0.0.1 by
``make docs``). Each run also checks the freshness of the raw sources against their cadence's
thresholds (``sources.json``, published beside the docs; a stale source is logged as a warning, and
does not stop the docs).

Why the page is sandboxed: ``index.html`` comes from a bucket the workers write, so whoever can write
there could plant a script in it. Served plainly inside the Airflow UI's origin, that script would run
with a logged-in user's session (read the ``_token`` cookie's rights through the API, trigger runs).
A content security policy that still allows dbt docs' inline scripts does not stop that. So the page
published is dbt's self-contained one (``dbt docs generate --static``: ``static_index.html``, the
manifest and catalog inlined, no request of its own), served with ``Content-Security-Policy: sandbox
allow-scripts``: without ``allow-same-origin`` the browser runs it in an opaque origin, where it
cannot read Airflow's cookies or storage nor call Airflow's API with them, and ``connect-src 'none'``
stops it sending what it reads anywhere. dbt docs' Angular app needs inline scripts, ``eval`` and
inline styles; images and fonts come inline too (``data:``). The JSON files are served as data only
(``default-src 'none'``), and every answer carries ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Sequence

from fastapi import FastAPI, HTTPException
from fastapi.params import Depends
from fastapi.responses import Response
from minio.error import S3Error

from ibdc.landing.object_store import client, get_bytes, put_bytes
from ibdc.settings import get_settings
from ibdc.transform.dbt import DBT_TARGET_DIR, run_dbt

# Published name -> content type; index.html is dbt's self-contained page (target/static_index.html).
DOCS_FILES = {
    "index.html": "text/html",
    "manifest.json": "application/json",
    "catalog.json": "application/json",
    "sources.json": "application/json",
}
DOCS_PREFIX = "dbt-docs/latest/"
# target/ file each published name is read from, where it differs.
GENERATED_AS = {"index.html": "static_index.html"}
PAGE_CSP = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval';"
    " style-src 'unsafe-inline'; img-src data:; font-src data:; connect-src 'none'; form-action 'none';"
    " base-uri 'none'; frame-ancestors 'self'"
)
DATA_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"
# The permission (FAB: action can_read on this resource) a user's role needs to read the docs in Airflow.
DOCS_VIEW = "IBDC dbt docs"
DOCS_ROLES = ("Admin", "Op", "User", "Viewer")
# The object store's answers that mean "not published yet" (404); any other refusal is a 502.
NOT_PUBLISHED = frozenset({"NoSuchKey", "NoSuchBucket"})
log = logging.getLogger("ibdc.transform.docs")


def check_freshness() -> dict[str, str]:
    """``dbt source freshness`` over the raw sources: source -> pass, warn, error (or runtime error)."""
    results = run_dbt("source", "freshness", check=False).results
    statuses = {r.node.unique_id.removeprefix("source.ibdc."): str(r.status) for r in results}
    for source, status in sorted(statuses.items()):
        if status != "pass":
            log.warning(
                "source %s is not fresh: %s (thresholds: dbt_project/models/staging/_provincial__sources.yml)",
                source,
                status,
            )
    return statuses


def generate_and_publish() -> list[str]:
    """Generate the docs (with the self-contained page) and publish them to the docs bucket; returns
    the ``s3://`` URLs written. DbtError when dbt fails, S3Error when a write is refused."""
    check_freshness()
    run_dbt("docs", "generate", "--static")
    mc = client()
    bucket = get_settings().docs_bucket
    keys = []
    for name, content_type in DOCS_FILES.items():
        key = DOCS_PREFIX + name
        body = (DBT_TARGET_DIR / GENERATED_AS.get(name, name)).read_bytes()
        put_bytes(mc, bucket, key, body, content_type)
        keys.append(f"s3://{bucket}/{key}")
    return keys


def published() -> bool:
    try:
        client().stat_object(get_settings().docs_bucket, DOCS_PREFIX + "index.html")
    except S3Error:
        return False
    return True


def grant_docs_view(roles: Sequence[str] = DOCS_ROLES) -> None:
    """Give each of ``roles`` (FAB roles, which must exist: ``airflow db migrate`` creates Admin, Op,
    Viewer...) the permission to read the docs in Airflow (``can_read`` on :data:`DOCS_VIEW`),
    creating the permission when missing; idempotent. Run with the Airflow configuration of the
    deployment (its metadata database), e.g. after ``airflow db migrate``. SystemExit when a role
    does not exist."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        permission = sm.create_permission("can_read", DOCS_VIEW)
        for name in roles:
            role = sm.find_role(name)
            if role is None:
                raise SystemExit(f"FAB role {name!r} does not exist: run airflow db migrate first")
            if permission not in role.permissions:
                sm.add_permission_to_role(role, permission)


def docs_app(dependencies: Sequence[Depends] = ()) -> FastAPI:
    """The docs as a FastAPI app: ``GET /`` the page, ``GET /<name>`` a file of :data:`DOCS_FILES`
    (404 for any other name, or before the first publication; 502 when the object store refuses
    otherwise, e.g. a wrong key or policy), each with its content security policy.
    ``dependencies`` run before every route: the Airflow plugin passes its login and permission check;
    the standalone server (``make docs``, 127.0.0.1 only) none."""
    app = FastAPI(
        title="IBDC dbt docs", docs_url=None, redoc_url=None, openapi_url=None, dependencies=list(dependencies)
    )

    @app.get("/")
    def _index() -> Response:
        return _file("index.html")

    @app.get("/{name}")
    def _file(name: str) -> Response:
        if name not in DOCS_FILES:
            raise HTTPException(404, f"{name} is not part of the dbt docs")
        try:
            body = get_bytes(client(), get_settings().docs_bucket, DOCS_PREFIX + name)
        except S3Error as exc:
            if exc.code in NOT_PUBLISHED:
                raise HTTPException(404, "no dbt docs published yet: run the ibdc_transform_dbt DAG") from exc
            # A wrong key or policy (AccessDenied, InvalidAccessKeyId, ...): logged, never as a 404.
            # The error's code, message and object only: no key.
            log.error("the docs store refused to get %s: %s %s", exc.object_name or name, exc.code, exc.message)
            raise HTTPException(502, "the docs store refused the request") from exc
        headers = {
            "Content-Security-Policy": PAGE_CSP if name == "index.html" else DATA_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        }
        return Response(body, media_type=mimetypes.guess_type(name)[0] or DOCS_FILES[name], headers=headers)

    return app
