"""Where training jobs may read and write: inside ``TRAINING_DIR`` only.

A job's ``csv_path``, ``out_dir`` and checkpoint path (``pretrained``) come from the admin and run as the worker's user, so each is
resolved (symlinks followed) and refused unless it lies under ``TRAINING_DIR`` (a checkpoint may also lie under ``MODEL_CACHE_DIR``): once when the form is
validated, and again by the worker, which does not trust the database row. Relative paths are taken
from ``TRAINING_DIR``. The ``finetune_clip`` command is not confined: its user already has a shell.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

from core.artifacts import ArtifactError, is_reference, referenced_key

DATASETS_FOLDER = "datasets"  # the suggested home (docs/operations.md) for CSVs and their images
CHECKPOINT_SUFFIXES = {".pt", ".pth", ".bin", ".safetensors", ".npz"}


class TrainingPathError(ValueError):
    """A job's path lies outside TRAINING_DIR, or is not the kind of thing it must be."""


def training_root() -> Path:
    return Path(settings.TRAINING_DIR).resolve()


def confined(value: str, *, what: str) -> Path:
    """The real path of ``value`` (relative to TRAINING_DIR when relative) if it lies strictly under TRAINING_DIR.

    Raises TrainingPathError for an empty value, a ``..`` part, or a path (or a symlink on it) that leads out.
    """
    text = value.strip()
    if not text:
        raise TrainingPathError(f"{what} is empty")
    shown = text if len(text) <= 200 else text[:200] + "..."
    if ".." in Path(text).parts:
        raise TrainingPathError(f"{what} {shown!r} may not contain '..'; give a path inside TRAINING_DIR")
    root = training_root()
    resolved = (root / text).resolve()  # an absolute value replaces the root
    if resolved == root or not resolved.is_relative_to(root):
        raise TrainingPathError(
            f"{what} {shown!r} is outside TRAINING_DIR ({root}), or a symlink on it points outside; "
            f"jobs read and write only under TRAINING_DIR (datasets in {root / DATASETS_FOLDER})"
        )
    return resolved


def dataset_csv(value: str) -> Path:
    """The CSV a job reads: an existing file under TRAINING_DIR."""
    path = confined(value, what="csv_path")
    if not path.is_file():
        raise TrainingPathError(f"csv_path {value.strip()[:200]!r} does not exist or is not a file")
    return path


def output_dir(value: str) -> Path:
    """The folder a job writes: under TRAINING_DIR, and not an existing file."""
    path = confined(value, what="out_dir")
    if path.exists() and not path.is_dir():
        raise TrainingPathError(f"out_dir {value.strip()[:200]!r} is a file, not a folder")
    return path


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path``, symlinks followed, lies under ``root`` (an already resolved folder)."""
    return path.resolve().is_relative_to(root)


def looks_like_path(weights: str) -> bool:
    """Whether a ``pretrained`` value names a checkpoint file rather than an open_clip tag."""
    return "/" in weights or os.sep in weights or Path(weights).suffix in CHECKPOINT_SUFFIXES


def job_weights(pretrained: str) -> str:
    """A job's ``pretrained``: a tag, "none" or a stored checkpoint (``artifact:<key>``) as given; a
    checkpoint path must be a file under TRAINING_DIR (an earlier job's output) or MODEL_CACHE_DIR, and
    is returned resolved."""
    text = pretrained.strip()
    if is_reference(text):
        try:
            referenced_key(text)
        except ArtifactError as exc:
            raise TrainingPathError(f"pretrained {exc}") from None
        return text
    if not looks_like_path(text):
        return pretrained
    shown = text if len(text) <= 200 else text[:200] + "..."
    resolved = (training_root() / text).resolve()
    roots = (training_root(), Path(settings.MODEL_CACHE_DIR).resolve())
    if ".." in Path(text).parts or not any(resolved.is_relative_to(root) for root in roots):
        raise TrainingPathError(
            f"pretrained checkpoint {shown!r} is outside TRAINING_DIR and MODEL_CACHE_DIR (or has '..', or a "
            "symlink on it points outside); jobs load checkpoints only from there"
        )
    if not resolved.is_file():
        raise TrainingPathError(f"pretrained checkpoint {shown!r} does not exist or is not a file")
    return str(resolved)
