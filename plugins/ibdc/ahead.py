"""Work done one item ahead, in a thread: the producer's next item is made while the consumer uses
the current one (a page parsed while the last is copied, a page encoded while the last is sent)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_END = object()


def one_ahead(items: Iterator[T], name: str) -> Iterator[T]:
    """``items``, each next one made in a thread (``name``: its name's prefix) while the caller holds
    the current one; the iterator is advanced by one call at a time, never two at once. What making
    an item raises is raised to the caller when it asks for that item. Closed early (``close()``, or
    collected), it waits for the item being made, then ends its thread."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) as pool:
        ahead = pool.submit(next, items, _END)
        while (item := ahead.result()) is not _END:
            ahead = pool.submit(next, items, _END)
            yield item
