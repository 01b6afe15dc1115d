"""An offline stand-in for the Art Institute of Chicago API and IIIF image server."""

from __future__ import annotations

from fake_aic.server import FAULT_KINDS, FakeAIC, RequestRecord

__all__ = ["FAULT_KINDS", "FakeAIC", "RequestRecord"]
