"""Loading open_clip models, and encoders that keep only the tower a process needs.

Architectures are data: open_clip's JSON configs plus ours in ``model_configs/`` and any
folder listed in CLIP_MODEL_CONFIG_DIRS. Weights are an open_clip pretrained tag, a
checkpoint path, or a checkpoint in the artifact store (``artifact:checkpoints/<sha256>.pt``,
what a fine-tuning job registers), downloaded into MODEL_CACHE_DIR the first time a host loads it.

An encoder builds its model without memory for weights (PyTorch's meta device), drops the
other tower, and only then loads its own tower's weights, memory-mapped from the checkpoint:
a web process never holds the image tower, nor an embed worker the text tower, even for a moment.
"""

from __future__ import annotations

import logging
import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal

import numpy as np
import open_clip
import torch
from django.conf import settings
from open_clip.transform import MaybeConvertMode, PreprocessCfg, image_transform_v2
from PIL import Image
from torchvision import transforms
from torchvision.transforms.functional import pil_modes_mapping

from core.artifacts import (
    ArtifactError,
    ArtifactMissing,
    cached_artifact,
    is_reference,
    model_artifacts_dir,
    referenced_key,
)
from embeddings.encoders.types import ModelLoadError, ModelSpec
from embeddings.images.decoding import ResizeCrop
from embeddings.images.device_decoding import DevicePixels

logger = logging.getLogger(__name__)

MODEL_CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
_TEXT_TOWER_ATTRS = ("transformer", "token_embedding", "positional_embedding", "ln_final", "text_projection", "text")
_registered = False
_register_lock = threading.Lock()

Tower = Literal["image", "text"]


def register_model_configs() -> None:
    """Add our configs (and CLIP_MODEL_CONFIG_DIRS) to open_clip's registry, once per process."""
    global _registered
    with _register_lock:
        if _registered:
            return
        open_clip.add_model_config(MODEL_CONFIG_DIR)
        for folder in settings.CLIP_MODEL_CONFIG_DIRS:
            open_clip.add_model_config(Path(folder))
        _registered = True


def resolve_device(name: str | None = None) -> torch.device:
    name = name or settings.EMBED_DEVICE
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def _checked_weights(spec: ModelSpec) -> str:
    """The pretrained tag or checkpoint path of ``spec``, after checking the architecture exists."""
    register_model_configs()
    if spec.architecture not in open_clip.list_models():
        raise ModelLoadError(f"unknown architecture {spec.architecture!r}; known: {', '.join(open_clip.list_models())}")
    pretrained = local_weights(spec.pretrained)
    if not pretrained or pretrained.lower() == "none":
        raise ModelLoadError(f"model {spec.architecture!r} has no weights: give a pretrained tag or a checkpoint path")
    if (pretrained.startswith("/") or pretrained.startswith(".")) and not Path(pretrained).is_file():
        raise ModelLoadError(f"checkpoint {pretrained} does not exist")
    return pretrained


def local_weights(pretrained: str) -> str:
    """``pretrained`` as open_clip takes it: a tag or path as given, and a stored checkpoint
    (``artifact:<key>``) as the path of its copy in MODEL_CACHE_DIR, downloaded first if this host has none.

    A checkpoint missing from the store raises ModelLoadError; a store that cannot be reached raises
    StoreUnavailable, a failure that passes (tasks retry it).
    """
    text = pretrained.strip()
    if not is_reference(text):
        return text
    try:
        key = referenced_key(text)
        return str(cached_artifact(key, model_artifacts_dir()))
    except ArtifactMissing as exc:
        raise ModelLoadError(f"checkpoint {text}: {exc}") from exc
    except ArtifactError as exc:
        if type(exc) is ArtifactError:  # a malformed reference, not the store's failure
            raise ModelLoadError(f"checkpoint {text}: {exc}") from exc
        raise


def create_clip(spec: ModelSpec, device: torch.device | str = "cpu") -> tuple[Any, Any]:
    """Build the whole model with its weights; returns (model in eval mode, validation preprocess)."""
    pretrained = _checked_weights(spec)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            spec.architecture, pretrained=pretrained, device=device, cache_dir=str(settings.MODEL_CACHE_DIR)
        )
    except Exception as exc:  # open_clip raises many kinds: download, hub, shape mismatch
        raise ModelLoadError(f"cannot load {spec.architecture} weights {pretrained!r}: {exc}") from exc
    model.eval()
    return model, preprocess


def create_tower(spec: ModelSpec, tower: Tower, device: torch.device | str = "cpu") -> tuple[Any, Any]:
    """The model with only ``tower`` ("image" or "text") and its weights; returns (model, preprocess).

    The other tower is never allocated. Checkpoints that need open_clip's format conversions
    (or that cannot be memory-mapped) take the slower path: the whole model, then a drop.
    """
    pretrained = _checked_weights(spec)
    quiet = _WithoutRandomInitWarning()
    logging.getLogger().addFilter(quiet)
    try:
        with torch.device("meta"):
            # No weights are loaded here: open_clip only resolves (and downloads once) the checkpoint.
            model = open_clip.create_model(
                spec.architecture,
                pretrained=pretrained,
                load_weights=False,
                pretrained_text=False,
                device="meta",
                cache_dir=str(settings.MODEL_CACHE_DIR),
            )
        preprocess = image_transform_v2(PreprocessCfg(**model.visual.preprocess_cfg), is_train=False)
        checkpoint = _checkpoint_path(spec.architecture, pretrained)
    except Exception as exc:  # open_clip raises many kinds: download, hub, config
        raise ModelLoadError(f"cannot load {spec.architecture} weights {pretrained!r}: {exc}") from exc
    finally:
        logging.getLogger().removeFilter(quiet)
    _drop_other_tower(model, tower)
    if checkpoint is None or not _assign_weights(model, checkpoint):
        logger.info("%s: loading the whole model, then dropping the %s tower", spec.architecture, _other(tower))
        model, preprocess = create_clip(spec, "cpu")
        _drop_other_tower(model, tower)
    model.to(device)
    model.eval()
    return model, preprocess


class _WithoutRandomInitWarning(logging.Filter):
    """open_clip warns that a model built without weights is random; ours get theirs right after."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


def _other(tower: Tower) -> Tower:
    return "text" if tower == "image" else "image"


def _drop_other_tower(model: Any, tower: Tower) -> None:
    if tower == "text":
        model.visual = None
        return
    for attr in _TEXT_TOWER_ATTRS:
        if hasattr(model, attr):
            setattr(model, attr, None)
    if hasattr(model, "attn_mask"):
        model.attn_mask = None


def _checkpoint_path(architecture: str, pretrained: str) -> Path | None:
    if Path(pretrained).is_file():
        return Path(pretrained)
    config = open_clip.get_pretrained_cfg(architecture, pretrained)
    if not config:
        return None
    # Already downloaded by create_model: this returns the cached file.
    return Path(open_clip.download_pretrained(config, cache_dir=str(settings.MODEL_CACHE_DIR)))


def _assign_weights(model: Any, checkpoint: Path) -> bool:
    """Point the (meta) model's tensors at the checkpoint's, memory-mapped; False if it cannot be done as is.

    The pages are the file's, shared by every process that maps it (checkpoints are written to a
    new file and renamed, never rewritten in place, so a mapping stays valid).
    """
    try:
        loaded = torch.load(checkpoint, map_location="cpu", mmap=True, weights_only=True)
    except Exception:  # not a zip checkpoint (safetensors, legacy pickle): the slower path reads it
        return False
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not state:
        return False
    if next(iter(state)).startswith("module."):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    wanted = model.state_dict()
    for key, meta in wanted.items():
        value = state.get(key)
        if not isinstance(value, torch.Tensor) or value.shape != meta.shape or value.dtype != meta.dtype:
            return False  # a format open_clip converts on load (OpenAI, timm, older text layouts)
    model.load_state_dict({key: state[key] for key in wanted}, strict=True, assign=True)
    return _rebuild_unsaved_buffers(model)


def _rebuild_unsaved_buffers(model: Any) -> bool:
    """Buffers a checkpoint does not hold are still on the meta device; CLIP's only one is a causal mask."""
    for module in model.modules():
        for name, buffer in list(module.named_buffers(recurse=False)):
            if not buffer.is_meta:
                continue
            if name != "attn_mask" or buffer.dim() != 2 or buffer.shape[0] != buffer.shape[1]:
                return False
            size = buffer.shape[0]
            setattr(module, name, torch.full((size, size), float("-inf")).triu_(1))
    return not any(tensor.is_meta for tensor in [*model.parameters(), *model.buffers()])


def embedding_dimension(architecture: str) -> int:
    register_model_configs()
    config = open_clip.get_model_config(architecture)
    if config is None:
        raise ModelLoadError(f"unknown architecture {architecture!r}")
    return int(config["embed_dim"])


def _autocast(device: torch.device) -> Any:
    return torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else nullcontext()


Prepared = np.ndarray | torch.Tensor | DevicePixels


class ImageEncoder:
    """The image tower of one model: PIL images in, L2-normalised float32 vectors out.

    ``prepare`` (resize and crop, in a worker thread) and ``encode_prepared`` (one batch) split
    the model's preprocessing: images cross to the device as uint8, four times smaller than
    floats, and are normalised there, batch by batch, with the same arithmetic as the
    model's own transform.
    """

    runtime = "torch"

    def __init__(self, spec: ModelSpec, device: torch.device | None = None) -> None:
        self.device = device or resolve_device()
        self.model, self.preprocess = create_tower(spec, "image", self.device)
        self._resize_crop, normalize = _split_preprocess(self.preprocess)
        # The same steps without torchvision, for decoding processes (and threads alike).
        self.recipe = _resize_crop_recipe(self._resize_crop)
        self.draft_size = _draft_size(self.preprocess)
        self._mean: torch.Tensor | None = None
        self._std: torch.Tensor | None = None
        if normalize is not None:
            self._mean = torch.tensor(normalize.mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
            self._std = torch.tensor(normalize.std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)

    def preprocess_image(self, image: Image.Image) -> torch.Tensor:
        return self.preprocess(image)

    def prepare(self, image: Image.Image) -> Prepared:
        """Resize and crop: an HxWx3 uint8 array (or the model's own float tensor for unusual transforms)."""
        if self.recipe is not None:
            return np.asarray(self.recipe.apply(image))
        if self._resize_crop is None:
            return self.preprocess(image)
        return np.asarray(self._resize_crop(image))

    def encode_prepared(self, items: list[Prepared]) -> np.ndarray:
        """Vectors for a batch of ``prepare`` results."""
        return self.start(items).result()

    def start(self, items: list[Prepared]) -> PendingVectors:
        """Start the forward pass of a batch of ``prepare`` results (or DevicePixels); on a GPU it runs
        while the caller goes on."""
        if self._mean is None or self._std is None or any(isinstance(item, torch.Tensor) for item in items):
            return self._start(torch.stack([torch.as_tensor(item) for item in items]).to(self.device))
        host = [item for item in items if isinstance(item, np.ndarray)]
        if len(host) == len(items):
            pixels = self._to_device(host)
        else:  # some were decoded and resized on the device already
            first = next(item.pixels for item in items if isinstance(item, DevicePixels))
            pixels = torch.empty((len(items), *first.shape), dtype=torch.float32, device=self.device)
            if host:
                on_host = [index for index, item in enumerate(items) if isinstance(item, np.ndarray)]
                pixels[torch.tensor(on_host, device=self.device)] = self._to_device(host).float()
            for index, item in enumerate(items):
                if isinstance(item, DevicePixels):
                    pixels[index] = item.pixels
        # ToTensor then Normalize, on the whole batch at once.
        return self._start(pixels.float().div_(255).sub_(self._mean).div_(self._std))

    def _to_device(self, arrays: list[np.ndarray]) -> torch.Tensor:
        """(height, width, 3) uint8 arrays as one (N, 3, height, width) uint8 batch on the device."""
        pixels = torch.from_numpy(np.stack(arrays))
        if self.device.type == "cuda":
            pixels = pixels.pin_memory()
        return pixels.to(self.device, non_blocking=True).permute(0, 3, 1, 2)

    def encode_images(self, images: list[Image.Image]) -> np.ndarray:
        """Vectors for PIL images, each through the model's own transform."""
        return self.encode(torch.stack([self.preprocess_image(image) for image in images]))

    def encode(self, batch: torch.Tensor) -> np.ndarray:
        """Vectors for a batch of ``preprocess_image`` tensors."""
        return self._start(batch.to(self.device, non_blocking=True)).result()

    def _start(self, batch: torch.Tensor) -> PendingVectors:
        with torch.inference_mode(), _autocast(self.device):
            features = self.model.encode_image(batch, normalize=True).float()
            if self.device.type != "cuda":
                return PendingVectors(features.numpy())
            # Copied to pinned memory behind the forward pass; an event says when it has landed.
            host = torch.empty(features.shape, dtype=torch.float32, pin_memory=True)
            host.copy_(features, non_blocking=True)
            landed = torch.cuda.Event()  # type: ignore[no-untyped-call]
            landed.record()
            return PendingVectors(host.numpy(), landed)


class PendingVectors:
    """The vectors of a forward pass that may still be running on the device."""

    def __init__(self, vectors: np.ndarray, landed: Any = None) -> None:
        self._vectors = vectors
        self._landed = landed

    def result(self) -> np.ndarray:
        if self._landed is not None:
            self._landed.synchronize()
        return self._vectors


def _split_preprocess(preprocess: Any) -> tuple[Any, transforms.Normalize | None]:
    """(the PIL steps before ToTensor, the final Normalize), or (None, None) for another shape of transform."""
    steps = list(getattr(preprocess, "transforms", []))
    if (
        len(steps) < 3
        or not isinstance(steps[-1], transforms.Normalize)
        or not isinstance(steps[-2], transforms.ToTensor)
    ):
        return None, None
    return transforms.Compose(steps[:-2]), steps[-1]


def _resize_crop_recipe(resize_crop: Any) -> ResizeCrop | None:
    """The ResizeCrop of ``Resize[, CenterCrop][, convert to RGB]`` (PIL steps), or None for any other shape."""
    steps = list(getattr(resize_crop, "transforms", []))
    if steps and isinstance(steps[-1], MaybeConvertMode) and steps[-1].mode == "RGB":
        steps = steps[:-1]
    if not steps or not isinstance(steps[0], transforms.Resize):
        return None
    resize = steps[0]
    size = [resize.size] if isinstance(resize.size, int) else list(resize.size)
    if resize.max_size is not None or len(size) not in (1, 2) or resize.interpolation not in pil_modes_mapping:
        return None
    if len(steps) == 2 and isinstance(steps[1], transforms.CenterCrop):
        crop = (int(steps[1].size[0]), int(steps[1].size[1]))
    elif len(steps) == 1 and len(size) == 2:  # "squash": the resize alone gives the model's size
        crop = (int(size[0]), int(size[1]))
    else:
        return None
    return ResizeCrop(
        size=tuple(int(side) for side in size),
        interpolation=int(pil_modes_mapping[resize.interpolation]),
        crop=crop,
    )


def _draft_size(preprocess: Any) -> tuple[int, int] | None:
    """The smallest decoded size the first resize still needs, so JPEG can decode at a reduced scale."""
    steps = list(getattr(preprocess, "transforms", []))
    if not steps or not isinstance(steps[0], transforms.Resize):
        return None
    size = steps[0].size
    if isinstance(size, int):  # the shorter side becomes `size`: both sides must keep at least that
        return (size, size)
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return (int(size[1]), int(size[0]))
    if isinstance(size, (list, tuple)) and len(size) == 1:
        return (int(size[0]), int(size[0]))
    return None


class TextEncoder:
    """The text tower of one model: strings in, L2-normalised float32 vectors out."""

    runtime = "torch"

    def __init__(self, spec: ModelSpec, device: torch.device | None = None) -> None:
        self.device = device or resolve_device(settings.SEARCH_DEVICE)
        self.model, _ = create_tower(spec, "text", self.device)
        self.tokenizer = open_clip.get_tokenizer(spec.architecture)
        # With a causal mask and pooling at the end-of-text token (its id is the largest), what follows
        # that token cannot change the vector: the padding is cut off. A short query costs a few
        # positions instead of the whole context.
        self._trim = (
            isinstance(self.model, open_clip.CLIP)
            and self.model.text_pool_type == "argmax"
            and self.model.attn_mask is not None
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(texts).to(self.device)
        with torch.inference_mode(), _autocast(self.device):
            features = self._encode_trimmed(tokens) if self._trim else self.model.encode_text(tokens, normalize=True)
        return features.float().cpu().numpy()

    def _encode_trimmed(self, tokens: torch.Tensor) -> torch.Tensor:
        """CLIP.encode_text on the tokens up to the last end-of-text token."""
        length = int(tokens.argmax(dim=-1).max()) + 1
        return self.encode_tokens(tokens[:, :length])

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """CLIP.encode_text on tokens that end at the last end-of-text token (what ONNX exports run)."""
        model = self.model
        length = tokens.shape[1]
        cast_dtype = model.transformer.get_cast_dtype()
        x = model.token_embedding(tokens).to(cast_dtype) + model.positional_embedding[:length].to(cast_dtype)
        x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
        x = model.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
        if isinstance(model.text_projection, torch.nn.Linear):
            x = model.text_projection(x)
        elif model.text_projection is not None:
            x = x @ model.text_projection
        return torch.nn.functional.normalize(x, dim=-1)
