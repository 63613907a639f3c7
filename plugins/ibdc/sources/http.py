"""One way to build HTTP sessions for sources: timeouts, and retries with backoff honouring Retry-After."""

from __future__ import annotations

import logging
import re

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ibdc.settings import get_settings

RETRY_STATUSES = (429, 500, 502, 503, 504)
# Query parameters some portals want their secret in (jsonp's token, app_key's appKey).
SECRET_PARAMS = ("token", "appKey")
REDACTED = "***"
_SECRET_IN_URL = re.compile(rf"((?:^|[?&])(?:{'|'.join(SECRET_PARAMS)})=)[^&\s'\"]*")


def redact(text: str) -> str:
    """``text`` with the values of secret query parameters replaced by ``***``."""
    return _SECRET_IN_URL.sub(rf"\g<1>{REDACTED}", text)


class _RedactSecrets(logging.Filter):
    """urllib3 logs the URLs it retries (warnings on broken connections, debug on status retries)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(f"{p}=" in message for p in SECRET_PARAMS):
            record.msg, record.args = redact(message), ()
        return True


for _logger in ("urllib3.connectionpool", "urllib3.util.retry"):
    logging.getLogger(_logger).addFilter(_RedactSecrets())


class TimeoutSession(requests.Session):
    """A session whose every request has a timeout unless the caller gives one."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, **kwargs)


def build_session(retries: int | None = None, timeout_s: float | None = None) -> requests.Session:
    settings = get_settings()
    retry = Retry(
        total=settings.http_retries if retries is None else retries,
        backoff_factor=0.5,
        backoff_max=30,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None,  # sources' POSTs (token, signed gateway) are reads, safe to retry
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = TimeoutSession(settings.http_timeout_s if timeout_s is None else timeout_s)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "ibdc-extract/0.1"
    return session
