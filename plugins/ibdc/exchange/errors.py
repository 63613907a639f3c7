"""The exchange market's errors: each is a refusal the caller can read, with the HTTP status the REST
API answers it with (``ibdc.exchange.api``) and a short machine-readable ``rule``."""

from __future__ import annotations

from typing import ClassVar


class ExchangeError(Exception):
    """Base of the market's errors. ``rule`` names the rule that refused (``level2_not_approved``,
    ``purpose_missing``, ...); ``str(error)`` says why in a sentence."""

    status: ClassVar[int] = 400

    def __init__(self, message: str, rule: str = "refused") -> None:
        super().__init__(message)
        self.rule = rule


class Refused(ExchangeError):
    """The market's rules refuse the request (the gate, an offer's policy, a role): recorded in the ledger."""

    status = 403


class IllegalTransition(Refused):
    """A negotiation event its state does not allow (Dataspace Protocol state machine), or by the wrong party."""

    status = 409


class NotFound(ExchangeError):
    status = 404


class Unauthenticated(ExchangeError):
    """No API credential, or one no participant holds."""

    status = 401


class InvalidContract(ExchangeError):
    """A generated data contract that does not validate against the ODCS JSON schema (a defect, never data)."""

    status = 500
