"""The procedural benchmark's smoke version: both training stages learn, through the real loop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from bench.finetune import main


@pytest.fixture
def one_thread() -> Iterator[None]:
    # The benchmark sets torch's thread count for its process; give the suite its own back.
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_it_pretrains_on_plain_labels_and_finetunes_on_museum_descriptions(
    one_thread: None, capsys: pytest.CaptureFixture[str]
) -> None:
    result = main(["--quick", "--threads", "1"])

    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    figures: dict[str, Any] = json.loads(last_line)
    assert {"before_t2i_recall@5", "after_t2i_recall@5", "seconds"} <= set(figures)
    assert figures["before_t2i_recall@5"] == result["before_t2i_recall@5"]
    chance = 5 / figures["pairs"]["test"]
    # Pre-training from random weights learned to read plain labels of unseen artworks...
    assert figures["base_plain_t2i_recall@5"] >= 4 * chance
    # ...and fine-tuning on museum descriptions lowered its loss, image tower locked.
    losses = figures["finetune_losses"]
    assert losses[-1] < 0.8 * losses[0]
    assert figures["pretrain_losses"][-1] < 0.5 * figures["pretrain_losses"][0]
    assert figures["seconds"] < 120
