"""What a failed image says: the error every stage of fetching and decoding raises.

No Django, numpy or PyTorch here: decoding processes import it.
"""

from __future__ import annotations


class ImageError(RuntimeError):
    """The image cannot be had; ``reason`` is what an operator sees."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
