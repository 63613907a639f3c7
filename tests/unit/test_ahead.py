"""``ibdc.ahead.one_ahead``: the next item made in a thread while the caller holds the current one."""

from __future__ import annotations

import threading

import pytest

from ibdc.ahead import one_ahead


def test_every_item_in_order_none_included_each_made_in_the_thread():
    made_in = []

    def items():
        for item in (1, None, 3):
            made_in.append(threading.current_thread().name)
            yield item

    assert list(one_ahead(items(), "test-ahead")) == [1, None, 3]
    assert all(name.startswith("test-ahead") for name in made_in)


def test_what_making_an_item_raises_is_raised_when_that_item_is_asked_for():
    def items():
        yield 1
        raise ValueError("page 2 is broken")

    ahead = one_ahead(items(), "test-ahead")
    assert next(ahead) == 1
    with pytest.raises(ValueError, match="page 2 is broken"):
        next(ahead)


def test_closed_early_it_waits_for_the_item_being_made_and_makes_no_more():
    made = []
    release = threading.Event()

    def items():
        for n in range(5):
            if n == 1:
                release.wait(5)
            made.append(n)
            yield n

    ahead = one_ahead(items(), "test-ahead")
    assert next(ahead) == 0
    release.set()
    ahead.close()
    assert made == [0, 1]  # the one being made when closed, and no other
