"""Synthetic CLIP-like vectors: clustered, of low intrinsic dimension, not uniform noise.

Image vectors of a real collection are far from random: they share a strong common
direction (two unrelated artworks still score about 0.5), they crowd into clusters (prints,
portraits, vases, landscapes) of very different sizes, and they vary along a few dozen
directions, not 512. Text queries sit apart from images (CLIP's "modality gap"): a good
match scores about 0.3, so a query is not a point of the collection. This module draws
(measured at 100k: two random artworks score 0.48, a query's best match 0.37, its median 0.09;
32 directions hold 92% of the variance):

- a latent point per artwork: a cluster (sizes follow a power law) plus a spread around
  its centre, in ``LATENT_DIMENSIONS`` dimensions;
- a 512-d vector: that point through a fixed random map with a decaying spectrum, plus the
  common direction and a little isotropic noise, normalised;
- queries: a cluster's centre seen through the same map, shifted by a fixed "text"
  direction and noise, normalised.
Everything is seeded, so the same ``n`` and seed give the same collection and queries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LATENT_DIMENSIONS = 32
DIMENSION = 512


@dataclass(frozen=True)
class Space:
    mapping: np.ndarray  # (LATENT_DIMENSIONS, DIMENSION)
    common: np.ndarray  # (DIMENSION,) the direction every image shares
    text_shift: np.ndarray  # (DIMENSION,) where text queries sit apart
    centres: np.ndarray  # (clusters, LATENT_DIMENSIONS)
    weights: np.ndarray  # (clusters,) cluster sizes, summing to 1


def clusters_for(n: int) -> int:
    return max(20, n // 400)


def space(n: int, seed: int = 0) -> Space:
    rng = np.random.default_rng(seed)
    spectrum = 1.0 / np.sqrt(np.arange(1, LATENT_DIMENSIONS + 1))
    basis, _ = np.linalg.qr(rng.standard_normal((DIMENSION, LATENT_DIMENSIONS)))
    mapping = (basis * spectrum).T.astype(np.float32)
    common = rng.standard_normal(DIMENSION).astype(np.float32)
    common /= np.linalg.norm(common)
    text_shift = rng.standard_normal(DIMENSION).astype(np.float32)
    text_shift -= text_shift @ common * common
    text_shift /= np.linalg.norm(text_shift)
    count = clusters_for(n)
    centres = (rng.standard_normal((count, LATENT_DIMENSIONS)) * 2.0).astype(np.float32)
    weights = 1.0 / np.arange(1, count + 1) ** 0.8
    rng.shuffle(weights)
    return Space(mapping, common, text_shift, centres, weights / weights.sum())


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def collection(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n unit vectors, their cluster numbers), drawn in blocks so that 1M fits in memory."""
    world = space(n, seed)
    rng = np.random.default_rng(seed + 1)
    labels = rng.choice(len(world.weights), size=n, p=world.weights).astype(np.int32)
    vectors = np.empty((n, DIMENSION), dtype=np.float32)
    block = 100_000
    for start in range(0, n, block):
        part = labels[start : start + block]
        latent = world.centres[part] + rng.standard_normal((len(part), LATENT_DIMENSIONS)).astype(np.float32)
        noise = rng.standard_normal((len(part), DIMENSION)).astype(np.float32) * 0.02
        vectors[start : start + len(part)] = latent @ world.mapping * 0.35 + world.common * 1.5 + noise
    return _normalise(vectors), labels


def queries(n: int, count: int, seed: int = 0) -> np.ndarray:
    """``count`` text-like query vectors for the collection of size ``n``."""
    world = space(n, seed)
    rng = np.random.default_rng(seed + 2)
    chosen = rng.choice(len(world.weights), size=count, p=world.weights)
    latent = world.centres[chosen] + rng.standard_normal((count, LATENT_DIMENSIONS)).astype(np.float32) * 0.7
    noise = rng.standard_normal((count, DIMENSION)).astype(np.float32) * 0.05
    vectors = latent @ world.mapping * 0.35 + world.common * 0.45 + world.text_shift * 3.2 + noise
    return _normalise(vectors.astype(np.float32))


def exact_top_k(vectors: np.ndarray, query: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Row numbers of the k vectors with the highest cosine similarity to ``query`` (exact search)."""
    scores = vectors @ query
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]
