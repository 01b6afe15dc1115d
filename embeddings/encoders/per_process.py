"""Which encoder a process uses for a model, loaded once per process; no PyTorch here.

A web process encodes text and image queries with the towers exported to ONNX
(``embeddings.encoders.text_onnx``, ``embeddings.encoders.image_onnx``) when the exports are there,
and never imports PyTorch for them; otherwise, and wherever SEARCH_ENCODER_RUNTIME is "torch", with
open_clip (``embeddings.encoders.clip``). Embedding workers always run open_clip's image tower. The
implementations are imported when first needed, and never import this module.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings

from embeddings.encoders.types import ImageQueryEncoding, ModelSpec, Spec, TextEncoding

if TYPE_CHECKING:
    from embeddings.encoders.clip import ImageEncoder

logger = logging.getLogger(__name__)

_encoders: dict[tuple[str, str, str], Any] = {}
_encoders_lock = threading.Lock()


def cached_encoder(kind: str, spec: ModelSpec, factory: Callable[[Spec], Any]) -> Any:
    """This process's ``kind`` encoder for ``spec``, made by ``factory`` on first use."""
    key = (kind, spec.architecture, spec.pretrained)
    with _encoders_lock:
        encoder = _encoders.get(key)
        if encoder is None:
            encoder = factory(Spec(spec.architecture, spec.pretrained))
            _encoders[key] = encoder
        return encoder


def loaded_encoders() -> dict[tuple[str, str, str], Any]:
    """The encoders this process holds, by (kind, architecture, pretrained)."""
    with _encoders_lock:
        return dict(_encoders)


def get_image_encoder(spec: ModelSpec) -> ImageEncoder:
    """This process's image encoder for ``spec``, loaded on first use."""
    from embeddings.encoders.clip import ImageEncoder  # PyTorch: only in processes that embed images

    encoder: ImageEncoder = cached_encoder("image", spec, ImageEncoder)
    return encoder


def get_image_query_encoder(spec: ModelSpec) -> ImageQueryEncoding:
    """This process's encoder of uploaded pictures for ``spec``: the ONNX export where there is one,
    else open_clip's image tower (the embedding workers' own, where this process has one)."""
    if settings.SEARCH_ENCODER_RUNTIME == "torch":
        return get_image_encoder(spec)
    encoder: ImageQueryEncoding = cached_encoder("image-query", spec, _new_image_query_encoder)
    return encoder


def _new_image_query_encoder(spec: Spec) -> ImageQueryEncoding:
    from embeddings.encoders.image_onnx import OnnxImageEncoder, find_image_export

    export = find_image_export(spec)
    if export is not None:
        return OnnxImageEncoder(export)
    logger.warning(
        "no ONNX export of the %s image tower (%s): uploaded pictures are encoded with PyTorch, which this "
        "process now loads; run `manage.py export_onnx_towers` to export it",
        spec.architecture,
        spec.pretrained,
    )
    from embeddings.encoders.clip import ImageEncoder

    return ImageEncoder(spec)


def get_text_encoder(spec: ModelSpec) -> TextEncoding:
    """This process's text encoder for ``spec``: the ONNX export where there is one, else open_clip."""
    encoder: TextEncoding = cached_encoder("text", spec, _new_text_encoder)
    return encoder


def _new_text_encoder(spec: Spec) -> TextEncoding:
    if settings.SEARCH_ENCODER_RUNTIME == "onnx":
        from embeddings.encoders.text_onnx import OnnxTextEncoder, find_export

        export = find_export(spec)
        if export is not None:
            return OnnxTextEncoder(export)
        logger.warning(
            "no ONNX export of the %s text tower (%s): queries are encoded with PyTorch, which this "
            "process now loads; run `manage.py export_onnx_towers` to export it",
            spec.architecture,
            spec.pretrained,
        )
    from embeddings.encoders.clip import TextEncoder

    return TextEncoder(spec)
