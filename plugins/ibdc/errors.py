"""One error taxonomy for extract and load: every failure is transient, permanent or "not released".

- **transient**: the same request may succeed later (HTTP 429/5xx, timeouts, a body cut short, a rate
  limit announced inside an HTTP 200 envelope, a partition that changed while it was paged). Retried:
  HTTP statuses by the session's urllib3 ``Retry``, cut bodies and in-band rate limits by
  ``fetch_page`` (the latter as many times as the session retries a 429, with increasing waits),
  then all of them by the task's retries with backoff.
- **permanent**: the same request would meet it again (a refusal: an HTTP 4xx such as 401/403, or a
  refusal code in the portal's envelope; a layout or schema that is not the contract's, a count that
  does not reconcile, too many bad records, a checksum mismatch, missing credentials). Fails the task
  at once, never retried.
- **not released**: the source has nothing for the period yet (every cell missing, a no-data code,
  an empty answer for a dataset that is never empty). Not a failure and never a load: the task ends
  skipped and whatever was loaded for the partition stays as it was.

The DAG's retry policy reads :func:`kind_of`; there is no list of exception types to keep in step.
"""

from __future__ import annotations

import enum
from typing import ClassVar

import requests


class ErrorKind(enum.StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    NOT_RELEASED = "not_released"


class IbdcError(Exception):
    """Base of the platform's extract and load errors; ``kind`` says what retrying can do."""

    kind: ClassVar[ErrorKind] = ErrorKind.PERMANENT


class TransientError(IbdcError):
    """Worth another attempt: the same request may succeed later."""

    kind = ErrorKind.TRANSIENT


class PermanentError(IbdcError):
    """The same request would meet it again: fail at once."""

    kind = ErrorKind.PERMANENT


class NotReleased(IbdcError):
    """The source has published nothing for the period yet (a clear state, not a failure)."""

    kind = ErrorKind.NOT_RELEASED


class LayoutError(PermanentError, ValueError):
    """A body that decodes but is not the layout the style promises (fetching it again gives the same)."""


# requests' own errors: a status that outlived the session's retries, a refused or dropped connection,
# a timeout. A 4xx other than 408/425/429 is the source refusing the request: permanent.
TRANSIENT_STATUSES = (408, 425, 429, 500, 502, 503, 504)


# The object store's refusals (minio's S3Error codes) that a retry meets again.
PERMANENT_S3_CODES = ("AccessDenied", "NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch")


def kind_of(exc: BaseException) -> ErrorKind:
    """The kind of any exception raised by extract or load.

    The platform's own errors say their kind; requests' HTTP errors by status; PostgreSQL's data,
    integrity and programming errors (a value a table refuses, a missing privilege) are permanent,
    its operational ones (a dropped connection) transient; the object store's refusals permanent.
    Anything else is taken as transient: the task's retries are the safer default for the unknown."""
    import psycopg
    from minio.error import S3Error

    if isinstance(exc, IbdcError):
        return exc.kind
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return ErrorKind.TRANSIENT if exc.response.status_code in TRANSIENT_STATUSES else ErrorKind.PERMANENT
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError | psycopg.ProgrammingError):
        return ErrorKind.PERMANENT
    if isinstance(exc, S3Error) and exc.code in PERMANENT_S3_CODES:
        return ErrorKind.PERMANENT
    return ErrorKind.TRANSIENT
