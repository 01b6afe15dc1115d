"""Processes started as in the production web image, where PyTorch, torchvision and open_clip are not
installed: a ``sitecustomize`` on PYTHONPATH makes every import of them fail, and logs the attempt."""

from __future__ import annotations

import os
from pathlib import Path

from museum_site.tests.processes import worker_env

# Installed first on sys.meta_path by every Python process started with this folder on PYTHONPATH:
# an import of these packages fails as if they were not installed, and is written to a log.
UNIMPORTABLE = """
import importlib.abc
import os
import sys

_MISSING = {"torch", "torchvision", "open_clip"}


class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in _MISSING:
            return None
        with open(os.environ["UNIMPORTABLE_LOG"], "a") as log:
            log.write(name + "\\n")
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, _NotInstalled())
"""


def env_without_pytorch(folder: Path, **overrides: str) -> dict[str, str]:
    """A production worker environment (``worker_env``) in which PyTorch cannot be imported; the
    imports refused are written to ``folder / "imports-refused.log"``."""
    site = folder / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(UNIMPORTABLE)
    return worker_env(
        PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")])),
        UNIMPORTABLE_LOG=str(folder / "imports-refused.log"),
        **overrides,
    )
