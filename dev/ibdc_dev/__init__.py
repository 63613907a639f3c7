"""IBDC's development harness: never part of the platform's image nor of its runtime lock.

``simulator`` serves the 31 provincial sources the way the real portals do (compose runs it as its own
service, from its own image target); ``localstack`` runs the local services of ``make demo`` and the
tests; ``bench`` holds ``make bench``'s benchmarks; ``cli`` is ``ibdc-dev``, the Makefile's verbs.
It imports the platform (``ibdc``); the platform never imports it.
"""
