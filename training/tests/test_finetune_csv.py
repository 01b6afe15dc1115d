from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import open_clip
import pytest
import torch
from django.core.management import CommandError, call_command
from PIL import Image, ImageDraw

from core.artifacts import file_sha256
from embeddings.models import EmbeddingModel
from training.datasets import DatasetError
from training.finetune import finetune
from training.options import TrainOptions

ARCH = "training-test-tiny"
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 180, 60),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 40),
    "black": (10, 10, 10),
    "white": (245, 245, 245),
    "orange": (250, 140, 20),
    "purple": (130, 40, 170),
}
PATTERNS = ("plain", "striped", "dotted")
RECALL_KEYS = {f"{direction}_recall@{k}" for direction in ("t2i", "i2t") for k in (1, 5, 10)}


@pytest.fixture(scope="module")
def tiny_arch(tmp_path_factory: pytest.TempPathFactory) -> str:
    config_dir = tmp_path_factory.mktemp("clip_configs")
    (config_dir / f"{ARCH}.json").write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(config_dir)
    return ARCH


@pytest.fixture(scope="module")
def pairs_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 coloured squares, plain, striped or dotted, and a caption naming each."""
    root = tmp_path_factory.mktemp("pairs")
    (root / "images").mkdir()
    rows = []
    for colour_name, colour in COLOURS.items():
        for pattern in PATTERNS:
            image = Image.new("RGB", (48, 48), colour)
            draw = ImageDraw.Draw(image)
            if pattern == "striped":
                for y in range(0, 48, 8):
                    draw.rectangle((0, y, 47, y + 3), fill=(128, 128, 128))
            elif pattern == "dotted":
                for x in range(4, 48, 12):
                    for y in range(4, 48, 12):
                        draw.ellipse((x, y, x + 5, y + 5), fill=(128, 128, 128))
            relative = f"images/{colour_name}-{pattern}.png"
            image.save(root / relative)
            caption = f"a {colour_name} square" if pattern == "plain" else f"a {pattern} {colour_name} square"
            rows.append({"filepath": relative, "title": caption})
    csv_path = root / "pairs.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["filepath", "title"])
        writer.writeheader()
        writer.writerows(rows)
    return csv_path


def _run(csv_path: Path, arch: str, out_dir: Path) -> dict[str, Any]:
    return finetune(
        architecture=arch,
        pretrained="none",
        out_dir=out_dir,
        csv_path=csv_path,
        options=TrainOptions(epochs=3, batch_size=8, lr=1e-3, seed=0),
        device="cpu",
    )


def test_it_writes_a_report_and_a_checkpoint_open_clip_loads(tiny_arch: str, pairs_csv: Path, tmp_path: Path) -> None:
    report = _run(pairs_csv, tiny_arch, tmp_path / "run")

    written = json.loads((tmp_path / "run" / "report.json").read_text())
    assert written == report
    for phase in ("before", "after"):
        assert set(written[phase]) == RECALL_KEYS | {"t2i_median_rank", "i2t_median_rank"}
        assert all(0.0 <= written[phase][name] <= 1.0 for name in RECALL_KEYS)
        assert 1 <= written[phase]["t2i_median_rank"] <= written["n_test"]
        assert set(written["in_batch"][phase]) == {f"in_batch_{name}" for name in RECALL_KEYS}
    assert written["n_train"] + written["n_val"] + written["n_test"] == 24
    assert min(written["n_train"], written["n_val"], written["n_test"]) >= 1
    assert written["skipped"] == 0
    assert [entry["epoch"] for entry in written["history"]] == [1, 2, 3]
    assert all(math.isfinite(entry["train_loss"]) for entry in written["history"])
    for plot in ("loss.png", "recall.png"):
        assert (tmp_path / "run" / plot).read_bytes().startswith(b"\x89PNG")

    checkpoint = tmp_path / "run" / "checkpoint.pt"
    model, _, preprocess = open_clip.create_model_and_transforms(tiny_arch, pretrained=str(checkpoint))
    model.eval()
    image = preprocess(Image.open(pairs_csv.parent / "images" / "red-plain.png")).unsqueeze(0)
    with torch.no_grad():
        features = model.encode_image(image, normalize=True)
    assert features.shape == (1, 32)


def test_it_gives_the_same_report_for_the_same_seed(tiny_arch: str, pairs_csv: Path, tmp_path: Path) -> None:
    first = _run(pairs_csv, tiny_arch, tmp_path / "first")
    second = _run(pairs_csv, tiny_arch, tmp_path / "second")

    assert first == second


def test_it_skips_a_row_whose_image_is_missing(tiny_arch: str, pairs_csv: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "pairs.csv"
    rows = pairs_csv.read_text().replace("images/", f"{pairs_csv.parent}/images/")
    csv_path.write_text(rows + "images/not-there.png,a missing square\n")

    report = finetune(
        architecture=tiny_arch,
        pretrained="none",
        out_dir=tmp_path / "out",
        csv_path=csv_path,
        options=TrainOptions(epochs=0, batch_size=8),
        device="cpu",
    )

    assert report["skipped"] == 1
    assert report["skipped_items"][0]["key"] == "images/not-there.png"
    assert report["before"] == report["after"]  # no epochs, no change


def test_it_refuses_a_csv_without_the_caption_column(tiny_arch: str, tmp_path: Path) -> None:
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text("filepath,caption\nimages/a.png,a square\n")

    with pytest.raises(DatasetError, match="title"):
        finetune(
            architecture=tiny_arch,
            pretrained="none",
            out_dir=tmp_path / "out",
            csv_path=csv_path,
            options=TrainOptions(epochs=1, batch_size=8),
            device="cpu",
        )


def test_the_command_reports_a_missing_csv(tiny_arch: str, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="does not exist"):
        call_command(
            "finetune_clip",
            "--csv",
            str(tmp_path / "missing.csv"),
            "--model",
            tiny_arch,
            "--pretrained",
            "none",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--out",
            str(tmp_path / "out"),
        )


def test_the_command_reports_an_unknown_architecture(pairs_csv: Path, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="unknown architecture 'no-such-arch'"):
        call_command(
            "finetune_clip",
            "--csv",
            str(pairs_csv),
            "--model",
            "no-such-arch",
            "--pretrained",
            "none",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--out",
            str(tmp_path / "out"),
        )


def test_the_command_trains_and_prints_the_recall_before_and_after(
    tiny_arch: str, pairs_csv: Path, tmp_path: Path
) -> None:
    output = io.StringIO()

    call_command(
        "finetune_clip",
        "--csv",
        str(pairs_csv),
        "--model",
        tiny_arch,
        "--pretrained",
        "none",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "out"),
        stdout=output,
    )

    assert "t2i_recall@5" in output.getvalue()
    assert (tmp_path / "out" / "report.json").is_file()
    assert (tmp_path / "out" / "checkpoint.pt").is_file()


@pytest.mark.django_db
def test_it_registers_the_checkpoint_as_an_inactive_model(tiny_arch: str, pairs_csv: Path, tmp_path: Path) -> None:
    report = finetune(
        architecture=tiny_arch,
        pretrained="none",
        out_dir=tmp_path / "out",
        csv_path=pairs_csv,
        options=TrainOptions(epochs=1, batch_size=8),
        device="cpu",
        register_name="tiny-finetuned",
    )

    model = EmbeddingModel.objects.get(name="tiny-finetuned")
    assert report["registered"] == "tiny-finetuned"
    assert not model.is_active
    assert model.architecture == tiny_arch
    # Named by its content in the artifact store, not by this host's path.
    assert model.pretrained == f"artifact:checkpoints/{file_sha256(tmp_path / 'out' / 'checkpoint.pt')}.pt"
    assert model.dimension == 32
