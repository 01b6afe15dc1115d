"""Why a model cannot be activated (or pruned): the errors the commands and the admin show."""

from __future__ import annotations


class ActivationError(Exception):
    """The model cannot be activated now; the message says why."""


class ActivationRefused(ActivationError):
    """The evaluation gate refused the candidate."""


class ActivationIncomplete(ActivationError):
    """The pass ended, but the candidate lacks vectors that search serves today."""
