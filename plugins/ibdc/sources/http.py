"""One way to build HTTP sessions for sources: timeouts, retries with backoff honouring Retry-After
up to a maximum, every answer bounded in size and in time, and no redirect to another origin.

What a source session guarantees (:func:`build_session`), whatever the adapter asks:

- **size**: an answer's body is read streamed and given up as soon as it passes
  ``IBDC_HTTP_MAX_ANSWER_BYTES`` (an announced ``Content-Length`` over it is refused before the body
  is read): :class:`AnswerTooLarge`, permanent (the same page asked again is as big again: the cap or
  the registry's page size must change).
- **time**: connecting and each read wait at most ``IBDC_HTTP_TIMEOUT_S``; an answer's status line
  and headers at most ``IBDC_HTTP_ANSWER_DEADLINE_S`` from the request, and its body at most as long
  again from its headers, so a server dripping a byte at a time is cut off: :class:`AnswerTooSlow`,
  transient.
- **Retry-After**: waited when it asks at most ``IBDC_HTTP_RETRY_AFTER_MAX_S``; a longer one is not
  slept through: :class:`RetryAfterTooLong`, transient (the task's retries, with their own backoff,
  try later).
- **redirects**: followed within the origin (scheme, host, port) only. A redirect to another origin
  is refused before anything is sent there -- no header, no query, no body, so no credential in any
  of them (bearer and basic auth, a token or appKey in the query, a client secret or signed form in a
  307/308's body): :class:`CrossOriginRedirect`, permanent. A portal that moved is repointed in the
  registry, deliberately.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from ibdc.errors import PermanentError, TransientError
from ibdc.settings import get_settings

RETRY_STATUSES = (429, 500, 502, 503, 504)
# Query parameters some portals want their secret in (jsonp's token, app_key's appKey).
SECRET_PARAMS = ("token", "appKey")
REDACTED = "***"
_SECRET_IN_URL = re.compile(rf"((?:^|[?&])(?:{'|'.join(SECRET_PARAMS)})=)[^&\s'\"]*")
CHUNK_BYTES = 64 * 1024  # the most read at once from a body


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


class AnswerTooLarge(PermanentError):
    """An answer bigger than the session's cap (announced, or found while reading)."""


class AnswerTooSlow(TransientError):
    """An answer whose body did not arrive whole within the session's deadline."""


class RetryAfterTooLong(TransientError):
    """A source asked to wait longer than the session's maximum before asking again."""


class CrossOriginRedirect(PermanentError):
    """A source redirected a request to another origin (scheme, host, port); nothing was sent there."""


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (the port spelled out, defaults included), lower case."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


class _BoundedBody:
    """A urllib3 response whose body is read at most ``max_bytes`` (decoded) and until ``deadline``
    (``time.monotonic()``); everything else is the wrapped response's. Reads go through ``read1``, which
    returns what one socket read brings, so the deadline is checked however slowly bytes arrive.
    Raises :class:`AnswerTooLarge` / :class:`AnswerTooSlow` (closing the connection)."""

    def __init__(self, raw: BaseHTTPResponse, url: str, max_bytes: int, deadline_s: float) -> None:
        self._raw, self._url = raw, redact(url)
        self._max_bytes, self._deadline_s = max_bytes, deadline_s
        self._deadline = time.monotonic() + deadline_s
        self._read = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def _read1(self, amt: int, decode_content: bool | None) -> bytes:
        if time.monotonic() > self._deadline:
            self._raw.close()
            raise AnswerTooSlow(f"{self._url}: the answer did not arrive whole within {self._deadline_s:g} s")
        data = self._raw.read1(amt, decode_content=decode_content) or b""
        self._read += len(data)
        if self._read > self._max_bytes:
            self._raw.close()
            raise AnswerTooLarge(f"{self._url}: answer of more than {self._max_bytes} bytes (the cap)")
        return data

    def stream(self, amt: int | None = CHUNK_BYTES, decode_content: bool | None = None) -> Iterator[bytes]:
        while data := self._read1(amt or CHUNK_BYTES, decode_content):
            yield data

    def read1(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        return self._read1(amt if amt and amt > 0 else CHUNK_BYTES, decode_content)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, amt: int | None = None, decode_content: bool | None = None, **_: Any) -> bytes:
        """Up to ``amt`` bytes (all with None), fewer only at the end: a file's ``read``."""
        out = bytearray()
        while amt is None or amt < 0 or len(out) < amt:
            want = CHUNK_BYTES if amt is None or amt < 0 else min(CHUNK_BYTES, amt - len(out))
            data = self._read1(want, decode_content)
            if not data:
                break
            out += data
        return bytes(out)


class _HeadDeadline:
    """A urllib3 connection whose wait for an answer's status line and headers ends at
    ``head_deadline_s``, however slowly their bytes come: past it, a watchdog shuts the socket down
    and :class:`AnswerTooSlow` is raised (a cut-off head would otherwise pass for a whole one)."""

    head_deadline_s: float
    sock: socket.socket | None
    host: str
    port: int | None

    def getresponse(self):  # type: ignore[no-untyped-def]
        cut = threading.Event()
        watchdog = threading.Timer(self.head_deadline_s, self._cut, (cut,))
        watchdog.daemon = True
        watchdog.start()
        try:
            response = super().getresponse()  # type: ignore[misc]
        except Exception as exc:
            if cut.is_set():
                raise self._too_slow() from exc
            raise
        finally:
            watchdog.cancel()
        if cut.is_set():
            response.close()
            raise self._too_slow()
        return response

    def _too_slow(self) -> AnswerTooSlow:
        return AnswerTooSlow(
            f"{self.host}:{self.port}: no whole status line and headers within {self.head_deadline_s:g} s"
        )

    def _cut(self, cut: threading.Event) -> None:
        cut.set()
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's (also under TLS)


def _with_head_deadline(manager: PoolManager, deadline_s: float) -> PoolManager:
    """``manager``'s pools make :class:`_HeadDeadline` connections."""
    attrs = {"head_deadline_s": deadline_s}
    http_conn = type("HeadDeadlineHTTPConnection", (_HeadDeadline, HTTPConnection), attrs)
    https_conn = type("HeadDeadlineHTTPSConnection", (_HeadDeadline, HTTPSConnection), attrs)
    manager.pool_classes_by_scheme = {
        "http": type("HeadDeadlineHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("HeadDeadlineHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }
    return manager


class BoundedAdapter(HTTPAdapter):
    """An adapter whose every answer (redirect hops included) is bounded: its status and headers
    within ``deadline_s`` (:class:`_HeadDeadline`), then its body within ``deadline_s`` more and
    ``max_bytes`` (:class:`_BoundedBody`)."""

    def __init__(self, max_bytes: int, deadline_s: float, **kwargs: Any) -> None:
        self.max_bytes, self.deadline_s = max_bytes, deadline_s
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _with_head_deadline(self.poolmanager, self.deadline_s)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        return _with_head_deadline(super().proxy_manager_for(proxy, **proxy_kwargs), self.deadline_s)

    def build_response(self, req: requests.PreparedRequest, resp: BaseHTTPResponse) -> requests.Response:
        response = super().build_response(req, resp)
        url = redact(str(req.url))
        announced = response.headers.get("Content-Length", "")
        if announced.isdigit() and int(announced) > self.max_bytes:
            resp.close()
            raise AnswerTooLarge(f"{url}: answer of {announced} bytes announced, over the cap of {self.max_bytes}")
        response.raw = _BoundedBody(resp, url, self.max_bytes, self.deadline_s)
        return response


_UNCAPPED = Retry(retry_after_max=sys.maxsize)  # reads a Retry-After as asked, however long


def retry_after_wait(header: str, maximum: float, url: str, status: str) -> float:
    """The seconds a ``Retry-After`` header (seconds or an HTTP date) asks to wait, when at most
    ``maximum``; longer, :class:`RetryAfterTooLong` (transient: left to the task's retries, never
    shortened, which would ask again against the source's word). The one rule for an HTTP 429/503 and
    for a rate limit a portal announces in its body. ``url`` (redacted here) and ``status`` name the
    answer in the error."""
    seconds = _UNCAPPED.parse_retry_after(header)
    if seconds > maximum:
        raise RetryAfterTooLong(
            f"{redact(url) or 'a request'}: {status} asks to wait {header.strip()!r}, over the maximum of "
            f"{maximum:g} s: left to the task's retries"
        )
    return seconds


class CappedRetry(Retry):
    """urllib3's Retry, except that a Retry-After longer than ``retry_after_max`` is not waited (nor
    shortened, which would ask again against the source's word): :class:`RetryAfterTooLong`; and that
    an answer about to be asked again is dropped with its connection, not read to its end first (an
    endless error body would hold the worker for ever). The last answer, once retries are out, is
    returned unread, and read bounded (:class:`BoundedAdapter`)."""

    def increment(self, *args: Any, **kwargs: Any) -> Retry:
        retry = super().increment(*args, **kwargs)  # MaxRetryError when out of retries: answer kept
        response = kwargs.get("response")
        if response is not None:
            response.close()  # its body unread: urllib3's drain before the retry finds nothing to read
        return retry

    def sleep_for_retry(self, response: BaseHTTPResponse) -> bool:
        header = response.headers.get("Retry-After")
        if header is not None:
            pool, path = getattr(response, "_pool", None), str(getattr(response, "url", None) or "")
            where = f"{pool.scheme}://{pool.host}:{pool.port}" if pool is not None else ""
            retry_after_wait(header, self.retry_after_max, f"{where}{path}", f"HTTP {response.status}")
        return super().sleep_for_retry(response)


class SourceSession(requests.Session):
    """A session whose every request has a timeout unless the caller gives one, and whose redirects
    stay within the origin (:class:`CrossOriginRedirect`)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, **kwargs)

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        before, after = str(response.request.url), str(prepared_request.url)
        if origin(before) != origin(after):
            raise CrossOriginRedirect(
                f"{redact(before)} redirected (HTTP {response.status_code}) to another origin, "
                f"{origin(after)} (from {origin(before)}): not followed, so no credential leaves "
                f"{origin(before)}; if the portal moved, repoint its base_url in the registry"
            )
        super().rebuild_auth(prepared_request, response)


TimeoutSession = SourceSession  # its former name


def build_session(
    retries: int | None = None,
    timeout_s: float | None = None,
    *,
    max_answer_bytes: int | None = None,
    answer_deadline_s: float | None = None,
    retry_after_max_s: int | None = None,
) -> requests.Session:
    """A source session (see the module's doc); each bound None: its ``IBDC_HTTP_*`` setting."""
    settings = get_settings()
    retry = CappedRetry(
        total=settings.http_retries if retries is None else retries,
        backoff_factor=0.5,
        backoff_max=30,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None,  # sources' POSTs (token, signed gateway) are reads, safe to retry
        respect_retry_after_header=True,
        retry_after_max=settings.http_retry_after_max_s if retry_after_max_s is None else retry_after_max_s,
        raise_on_status=False,
    )
    session = SourceSession(settings.http_timeout_s if timeout_s is None else timeout_s)
    adapter = BoundedAdapter(
        settings.http_max_answer_bytes if max_answer_bytes is None else max_answer_bytes,
        settings.http_answer_deadline_s if answer_deadline_s is None else answer_deadline_s,
        max_retries=retry,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "ibdc-extract/0.1"
    return session
