"""Progress bars (tqdm) for long management commands."""

from __future__ import annotations

from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm


def add_progress_arguments(parser: CommandParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--progress", dest="progress", action="store_true", default=None, help="show a progress bar")
    group.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")


def progress_bar(
    command: BaseCommand, options: dict[str, Any], *, total: int | None, unit: str, desc: str
) -> tqdm[Any]:
    """A bar on the command's stderr: shown when asked (--progress), or by default when stderr is a terminal."""
    # The bar writes to the raw stream: Django's OutputWrapper would end each redraw with a newline.
    stream = cast(TextIO, command.stderr._out)
    enabled = options.get("progress")
    if enabled is None:
        enabled = stream.isatty()
    # mininterval keeps a fast run from spending its time redrawing.
    return tqdm(
        total=total, unit=unit, desc=desc, file=stream, disable=not enabled, mininterval=0.5, dynamic_ncols=True
    )


def advance_to(bar: tqdm[Any], done: int) -> None:
    """Move ``bar`` to ``done`` (a total so far, as progress callbacks report it)."""
    bar.update(done - bar.n)
