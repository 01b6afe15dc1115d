"""Decoding processes: cached images decoded and resized outside the embedding worker's interpreter.

A GPU runs the image tower faster than one Python process decoding in threads can feed it: the
threads contend for the interpreter between their C calls (``bench.embed`` measures both, with and
without decoding processes). Each decoding process is a plain child,
``python -m embeddings.images.decoding_processes``, that
reads a request (a file and the model's ResizeCrop) on its stdin and writes the pixels on its
stdout. No multiprocessing: it runs under Celery's prefork pool processes, which may not have
multiprocessing children; and a child reads end-of-file and exits when its parent dies,
however it dies.

The worker's threads borrow a child each for a few images at a time; file reads, decoding and
resizing then run in as many interpreters as there are children.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import queue
import struct
import subprocess
import sys
import threading
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

from embeddings.images.decoding import ResizeCrop, prepare_file
from embeddings.images.pixel_cache import PixelCache
from embeddings.images.types import ImageError

logger = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
_F_SETPIPE_SZ = 1031  # Linux's fcntl for a pipe's capacity
_PIPE_BYTES = 1 << 20  # the most an unprivileged process may ask for by default
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class DecoderDied(RuntimeError):
    """A decoding process ended while it held images."""


class Missing:
    """A file that is not in the cache (any more): the caller fetches it."""


MISSING = Missing()
Outcome = Any  # a (height, width, 3) uint8 array, an ImageError, or MISSING


class Decoder:
    """One decoding process and its pipes."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH", "")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "embeddings.images.decoding_processes"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
        )
        assert self.process.stdout is not None
        with suppress(OSError):  # a reply of several images then arrives in a few reads, not one per 64 KiB
            fcntl.fcntl(self.process.stdout.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)

    def prepare(
        self,
        paths: list[Path],
        max_pixels: int,
        draft_size: tuple[int, int] | None,
        recipe: ResizeCrop,
        kept: PixelCache | None = None,
    ) -> list[Outcome]:
        """Each image as a (height, width, 3) uint8 array, an ImageError, or MISSING; DecoderDied if the
        process ended meanwhile. With ``kept`` the process keeps the pixels it makes there."""
        import numpy as np  # here, not at the top: the decoding processes import this module without numpy

        assert self.process.stdin is not None and self.process.stdout is not None
        request = json.dumps(
            {
                "paths": [str(path) for path in paths],
                "max_pixels": max_pixels,
                "draft_size": draft_size,
                "recipe": recipe.as_dict(),
                "kept": kept.as_dict() if kept is not None else None,
            }
        ).encode()
        try:
            self.process.stdin.write(_LENGTH.pack(len(request)) + request)
            header = _read_exact(self.process.stdout, _LENGTH.unpack(_read_exact(self.process.stdout, 4))[0])
            replies = json.loads(header)
            height, width = recipe.crop
            pixels = np.empty((sum(reply["status"] == "ok" for reply in replies), height, width, 3), dtype=np.uint8)
            if pixels.size:
                _read_into(self.process.stdout, pixels.data.cast("B"))
        except (BrokenPipeError, EOFError, ConnectionResetError):
            raise DecoderDied(f"the decoding process ended (exit status {self.process.wait()})") from None
        outcomes: list[Outcome] = []
        decoded = iter(pixels)
        for reply in replies:
            if reply["status"] == "ok":
                outcomes.append(next(decoded))
            elif reply["status"] == "missing":
                outcomes.append(MISSING)
            else:
                outcomes.append(ImageError(reply["reason"]))
        return outcomes

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()  # end-of-file: the child exits
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class DecoderPool:
    """``size`` decoding processes, started on first use; a thread borrows one for a few images at a time."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: queue.SimpleQueue[Decoder | None] = queue.SimpleQueue()
        for _ in range(size):
            self._idle.put(None)  # started when first borrowed

    def prepare(
        self,
        paths: list[Path],
        max_pixels: int,
        draft_size: tuple[int, int] | None,
        recipe: ResizeCrop,
        kept: PixelCache | None = None,
    ) -> list[Outcome]:
        """Decode, resize and crop these image files in a decoding process (see Decoder.prepare).

        A process that dies is replaced, and its images tried again one by one in new ones: an
        image that kills a second process fails with that reason, and the pool goes on.
        """
        decoder = self._idle.get()
        try:
            try:
                decoder = decoder or Decoder()
                return decoder.prepare(paths, max_pixels, draft_size, recipe, kept)
            except DecoderDied as died:
                logger.error("decoding %d images: %s; starting another decoding process", len(paths), died)
                decoder = None
            outcomes: list[Outcome] = []
            for path in paths:
                try:
                    decoder = decoder or Decoder()
                    outcomes.extend(decoder.prepare([path], max_pixels, draft_size, recipe, kept))
                except DecoderDied as died:
                    logger.error("decoding %s: %s", path, died)
                    decoder = None
                    outcomes.append(ImageError(f"decoding this image ends the decoding process ({died})"))
            return outcomes
        finally:
            self._idle.put(decoder)  # None where it died: the next borrower starts another

    def close(self) -> None:
        for _ in range(self.size):
            decoder = self._idle.get()
            if decoder is not None:
                decoder.close()
            self._idle.put(None)


_pools: dict[int, DecoderPool] = {}
_pools_lock = threading.Lock()


def decoder_pool(size: int) -> DecoderPool:
    """This process's pool of ``size`` decoding processes (one per process, kept for its lifetime)."""
    with _pools_lock:
        pool = _pools.get(os.getpid())
        if pool is None or pool.size != size:
            if pool is not None:
                pool.close()
            pool = _pools[os.getpid()] = DecoderPool(size)
        return pool


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    data = bytearray(size)
    _read_into(stream, memoryview(data))
    return bytes(data)


def _read_into(stream: IO[bytes], buffer: memoryview) -> None:
    filled = 0
    while filled < len(buffer):
        count = stream.readinto(buffer[filled:])  # type: ignore[attr-defined]
        if not count:
            raise EOFError
        filled += count


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """The decoding process: one reply per request until end-of-file."""
    while True:
        try:
            header = _read_exact(requests, 4)
        except EOFError:
            return
        request = json.loads(_read_exact(requests, _LENGTH.unpack(header)[0]))
        draft = request["draft_size"]
        draft_size = (draft[0], draft[1]) if draft else None
        recipe = ResizeCrop.from_dict(request["recipe"])
        kept = PixelCache.from_dict(request["kept"]) if request.get("kept") else None
        statuses: list[dict[str, str]] = []
        pixels: list[bytes] = []
        for path in request["paths"]:
            try:
                source = Path(path)
                signature = kept.signature(source) if kept is not None else None
                prepared = prepare_file(source.read_bytes(), request["max_pixels"], draft_size, recipe).tobytes()
                if kept is not None and signature is not None:
                    kept.write(source, prepared, signature)
                pixels.append(prepared)
                statuses.append({"status": "ok"})
            except FileNotFoundError:
                statuses.append({"status": "missing"})
            except ImageError as exc:
                statuses.append({"status": "error", "reason": exc.reason})
            except Exception as exc:  # one bad image must not end the process
                statuses.append({"status": "error", "reason": f"preprocessing failed: {type(exc).__name__}: {exc}"})
        encoded = json.dumps(statuses).encode()
        replies.write(_LENGTH.pack(len(encoded)) + encoded)
        for chunk in pixels:
            replies.write(chunk)
        replies.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
