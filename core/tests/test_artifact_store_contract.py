"""One contract, both backends: what goes in under a key comes back out, and nothing else does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.artifacts import ArtifactError, ArtifactMissing


def _file(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_an_uploaded_file_downloads_with_the_same_bytes(any_store: Any, tmp_path: Path) -> None:
    source = _file(tmp_path / "in", "weights.pt", b"\x00\x01weights" * 1000)

    any_store.upload(source, "checkpoints/abc.pt")
    copy = any_store.download("checkpoints/abc.pt", tmp_path / "out" / "deep" / "abc.pt")

    assert any_store.exists("checkpoints/abc.pt")
    assert copy == tmp_path / "out" / "deep" / "abc.pt"
    assert copy.read_bytes() == source.read_bytes()
    assert [path.name for path in copy.parent.iterdir()] == ["abc.pt"]  # no temporary file left behind


def test_an_upload_replaces_what_the_key_held(any_store: Any, tmp_path: Path) -> None:
    any_store.upload(_file(tmp_path, "first", b"first"), "training/job-1/report.json")
    any_store.upload(_file(tmp_path, "second", b"second"), "training/job-1/report.json")

    assert any_store.download("training/job-1/report.json", tmp_path / "report.json").read_bytes() == b"second"


def test_a_missing_key_names_the_key_and_the_store(any_store: Any, tmp_path: Path) -> None:
    assert not any_store.exists("images/none/448.jpg")

    with pytest.raises(ArtifactMissing) as raised:
        any_store.download("images/none/448.jpg", tmp_path / "none.jpg")

    assert "images/none/448.jpg" in str(raised.value)
    assert any_store.location in str(raised.value)
    assert not (tmp_path / "none.jpg").exists()
    assert list(tmp_path.iterdir()) == []


def test_keys_are_listed_and_deleted_by_prefix(any_store: Any, tmp_path: Path) -> None:
    source = _file(tmp_path, "x", b"x")
    for key in ("images/ab1/448.jpg", "images/ab1/896.jpg", "images/ab12/448.jpg", "onnx/m/d/tower.json"):
        any_store.upload(source, key)

    assert any_store.list_keys("images/ab1/") == ["images/ab1/448.jpg", "images/ab1/896.jpg"]
    assert any_store.list_keys("images/ab1") == ["images/ab1/448.jpg", "images/ab1/896.jpg", "images/ab12/448.jpg"]
    assert any_store.delete("images/ab1/") == 2
    assert any_store.list_keys("images/") == ["images/ab12/448.jpg"]
    assert any_store.list_keys("onnx/") == ["onnx/m/d/tower.json"]
    assert any_store.list_keys("nothing/") == []


def test_a_folder_goes_up_and_comes_down_whole(any_store: Any, tmp_path: Path) -> None:
    export = tmp_path / "export"
    _file(export, "tower.json", b"{}")
    _file(export, "text_tower.onnx", b"graph")
    _file(export, "weights/data.bin", b"tensors")
    _file(export, ".tower.json.4242.part", b"a write still under way")

    keys = any_store.upload_folder(export, "onnx/ViT-B-32/0123", last="text_tower.onnx")
    copy = any_store.download_folder("onnx/ViT-B-32/0123", tmp_path / "elsewhere" / "export")

    # ``last`` after the others; the temporary file stays behind.
    assert keys == [
        "onnx/ViT-B-32/0123/tower.json",
        "onnx/ViT-B-32/0123/weights/data.bin",
        "onnx/ViT-B-32/0123/text_tower.onnx",
    ]
    assert sorted(str(path.relative_to(copy)) for path in copy.rglob("*") if path.is_file()) == [
        "text_tower.onnx",
        "tower.json",
        "weights/data.bin",
    ]
    assert (copy / "weights" / "data.bin").read_bytes() == b"tensors"
    with pytest.raises(ArtifactMissing, match="onnx/ViT-B-32/none/"):
        any_store.download_folder("onnx/ViT-B-32/none", tmp_path / "none")


@pytest.mark.parametrize("key", ["/etc/passwd", "../outside", "images/../../x", "images//x", "", ".hidden/x"])
def test_a_key_that_is_a_path_is_refused(any_store: Any, tmp_path: Path, key: str) -> None:
    with pytest.raises(ArtifactError, match="is not an artifact key"):
        any_store.upload(_file(tmp_path, "x", b"x"), key)
