"""Many downloads of one key to one place at once: every reader sees no file or the whole file, never part."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def test_concurrent_downloads_never_show_half_a_file(any_store: Any, tmp_path: Path) -> None:
    payload = os.urandom(4 * 1024 * 1024)  # several reads and writes long, so a torn copy would show
    source = tmp_path / "checkpoint.pt"
    source.write_bytes(payload)
    any_store.upload(source, "checkpoints/big.pt")
    destination = tmp_path / "cache" / "checkpoints" / "big.pt"
    done = threading.Event()
    seen: list[int] = []
    torn: list[int] = []

    def read_while_downloading() -> None:
        while not done.is_set() or not seen:
            try:
                data = destination.read_bytes()
            except FileNotFoundError:
                continue
            seen.append(len(data))
            if data != payload:
                torn.append(len(data))

    reader = threading.Thread(target=read_while_downloading)
    reader.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            copies = list(pool.map(lambda _: any_store.download("checkpoints/big.pt", destination), range(16)))
    finally:
        done.set()
        reader.join()

    assert copies == [destination] * 16
    assert destination.read_bytes() == payload
    assert seen and torn == []
    assert sorted(path.name for path in destination.parent.iterdir()) == ["big.pt"]  # no temporary file left
