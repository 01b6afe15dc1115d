"""The text tower exported to ONNX and run by ONNX Runtime: how a web process encodes a query.

A query is a few words: ONNX Runtime turns them into a vector faster than PyTorch on a CPU, since
it runs one fixed graph without PyTorch's per-operator dispatch (``bench.search`` measures both), and
a process that never imports PyTorch, torchvision or open_clip holds far less memory
(``bench.memory`` measures it). The export is written once per model weights by
``embeddings.encoders.onnx_export`` (when a model is registered, or by
``manage.py export_onnx_towers``) into MODEL_CACHE_DIR, which every process of a site shares.

The text tower's export is a few files in its weights' export folder, beside the image tower's
(``embeddings.encoders.image_onnx``): the graph (token ids up to the end-of-text token in,
L2-normalised vectors out), CLIP's byte-pair vocabulary, and ``tower.json``. The tokenizer below is open_clip's
``SimpleTokenizer`` (from OpenAI's CLIP, MIT licence) with its "lower" cleaning, minus PyTorch.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import itertools
import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ftfy
import numpy as np
import regex
from django.conf import settings

from core.artifacts import ArtifactMissing, StoreUnavailable, artifact_store
from embeddings.encoders.types import ModelSpec

logger = logging.getLogger(__name__)

EXPORT_FORMAT = 1
GRAPH_FILE = "text_tower.onnx"
VOCABULARY_FILE = "bpe_simple_vocab_16e6.txt.gz"
DESCRIPTION_FILE = "tower.json"


@dataclass(frozen=True)
class TextTowerExport:
    folder: Path
    context_length: int
    dimension: int

    @property
    def graph(self) -> Path:
        return self.folder / GRAPH_FILE

    @property
    def vocabulary(self) -> Path:
        return self.folder / VOCABULARY_FILE


def weights_identity(spec: ModelSpec) -> str:
    """What names these weights: a checkpoint file's path, size and time, or an open_clip tag."""
    path = Path(spec.pretrained)
    if path.is_file():
        stat = path.stat()
        return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return spec.pretrained


def _export_name(spec: ModelSpec) -> tuple[str, str]:
    """(the architecture as a file name, a digest of the architecture and weights)."""
    digest = hashlib.sha256(f"{spec.architecture}\0{weights_identity(spec)}".encode()).hexdigest()[:20]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", spec.architecture), digest


def export_folder(spec: ModelSpec) -> Path:
    name, digest = _export_name(spec)
    return Path(settings.MODEL_CACHE_DIR) / "onnx-towers" / f"{name}-{digest}"


def export_key(spec: ModelSpec) -> str:
    """The export folder's key prefix in the artifact store."""
    name, digest = _export_name(spec)
    return f"onnx/{name}/{digest}"


def publish_export(spec: ModelSpec) -> None:
    """Store the whole export folder under ``export_key(spec)``, where processes on other hosts find it,
    if the site shares its caches (ARTIFACT_STORE_SHARED_CACHES). A store that cannot be reached is
    logged, not raised: this host has its export."""
    folder = export_folder(spec)
    if not settings.ARTIFACT_STORE_SHARED_CACHES:
        return
    try:
        # Each tower's description (a .json file) names a complete export: it goes after the graphs.
        descriptions = [path.name for path in folder.glob("*.json")]
        artifact_store().upload_folder(folder, export_key(spec), last=descriptions)
    except StoreUnavailable as exc:
        logger.warning("the export in %s is not shared with other hosts: %s", folder, exc)


def fetch_published_export(spec: ModelSpec) -> bool:
    """Whether the store held this export, now in ``export_folder(spec)``. An unreachable store is
    logged and counts as no export: a web process then encodes with PyTorch rather than not at all."""
    key = export_key(spec)
    if not settings.ARTIFACT_STORE_SHARED_CACHES:
        return False
    try:
        if not artifact_store().exists(f"{key}/{DESCRIPTION_FILE}"):
            return False
        artifact_store().download_folder(key, export_folder(spec))
    except ArtifactMissing:
        return False
    except StoreUnavailable as exc:
        logger.warning("cannot look for a published export of %s: %s", spec.architecture, exc)
        return False
    return True


def fetch_published_tower(spec: ModelSpec, stem: str) -> bool:
    """Whether the store held one tower's files of this export (those named ``stem*``), now in
    ``export_folder(spec)`` beside what the folder already holds, the description last: a host that
    exported one tower before another host published the other one takes it this way."""
    key = export_key(spec)
    if not settings.ARTIFACT_STORE_SHARED_CACHES:
        return False
    folder = export_folder(spec)
    try:
        names = [k.rsplit("/", 1)[1] for k in artifact_store().list_keys(f"{key}/")]
        tower = sorted((name.endswith(".json"), name) for name in names if name.startswith(stem))
        if not tower or not tower[-1][0]:
            return False  # no description: never published, or a publication under way
        for _, name in tower:
            artifact_store().download(f"{key}/{name}", folder / name)
    except ArtifactMissing:
        return False
    except StoreUnavailable as exc:
        logger.warning("cannot look for a published export of %s: %s", spec.architecture, exc)
        return False
    return True


def find_export(spec: ModelSpec) -> TextTowerExport | None:
    """The export of these weights' text tower, or None where there is none (or an older format)."""
    folder = export_folder(spec)
    if not (folder / DESCRIPTION_FILE).is_file():
        fetch_published_export(spec)
    try:
        description = json.loads((folder / DESCRIPTION_FILE).read_text())
    except (OSError, ValueError):
        return None
    if description.get("format") != EXPORT_FORMAT:
        return None
    return TextTowerExport(folder, int(description["context_length"]), int(description["dimension"]))


class OnnxTextEncoder:
    """Strings in, L2-normalised float32 vectors out, as ``embeddings.encoders.clip.TextEncoder`` gives them."""

    runtime = "onnxruntime"

    def __init__(self, export: TextTowerExport) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = settings.SEARCH_TEXT_THREADS
        # Spinning threads between queries take the cores from the database and the other workers.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(export.graph), options, providers=["CPUExecutionProvider"])
        self.tokenizer = ClipTokenizer(export.vocabulary, export.context_length)

    def encode(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(texts)
        # The end-of-text token has the largest id; nothing after it changes the vector (causal mask).
        length = int(tokens.argmax(axis=1).max()) + 1
        (vectors,) = self.session.run(None, {"tokens": tokens[:, :length]})
        return np.asarray(vectors, dtype=np.float32)


@lru_cache
def _bytes_to_unicode() -> dict[int, str]:
    """Printable stand-ins for the 256 byte values, so that BPE never sees whitespace or control bytes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(code) for code in codes), strict=True))


def _clean(text: str) -> str:
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).lower()


class ClipTokenizer:
    """CLIP's byte-pair tokenizer: texts in, a (texts, context length) int64 array of ids out."""

    def __init__(self, vocabulary: Path | str, context_length: int) -> None:
        with gzip.open(vocabulary) as compressed:
            merges_text = compressed.read().decode("utf-8").split("\n")
        merges = [tuple(line.split()) for line in merges_text[1 : 49152 - 256 - 2 + 1]]
        symbols = list(_bytes_to_unicode().values())
        vocab = [*symbols, *(symbol + "</w>" for symbol in symbols), *("".join(merge) for merge in merges)]
        special = ["<start_of_text>", "<end_of_text>"]
        vocab.extend(special)
        self.encoder = {token: index for index, token in enumerate(vocab)}
        self.bpe_ranks = {merge: rank for rank, merge in enumerate(merges)}
        self.byte_encoder = _bytes_to_unicode()
        self.cache = {token: token for token in special}
        self.pattern = regex.compile(
            "|".join(special) + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            regex.IGNORECASE,
        )
        self.sot, self.eot = self.encoder[special[0]], self.encoder[special[1]]
        self.context_length = context_length

    def __call__(self, texts: list[str]) -> np.ndarray:
        result = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.sot, *self.encode(text), self.eot]
            if len(ids) > self.context_length:
                ids = ids[: self.context_length]
                ids[-1] = self.eot
            result[row, : len(ids)] = ids
        return result

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for word in self.pattern.findall(_clean(text)):
            symbols = "".join(self.byte_encoder[byte] for byte in word.encode("utf-8"))
            ids.extend(self.encoder[piece] for piece in self._bpe(symbols).split(" "))
        return ids

    def _bpe(self, token: str) -> str:
        if token in self.cache:
            return self.cache[token]
        word = (*token[:-1], token[-1] + "</w>")
        while len(word) > 1:
            pairs = set(itertools.pairwise(word))
            first, second = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, len(self.bpe_ranks)))
            if (first, second) not in self.bpe_ranks:
                break
            merged: list[str] = []
            index = 0
            while index < len(word):
                if index < len(word) - 1 and word[index] == first and word[index + 1] == second:
                    merged.append(first + second)
                    index += 2
                else:
                    merged.append(word[index])
                    index += 1
            word = tuple(merged)
        joined = " ".join(word)
        if len(self.cache) < 100_000:  # queries are open-ended: the cache must not grow without bound
            self.cache[token] = joined
        return joined
