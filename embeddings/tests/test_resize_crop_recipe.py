"""The torchvision-free resize and crop gives the very pixels of the model's own transform."""

from __future__ import annotations

import numpy as np
import pytest
from open_clip.transform import PreprocessCfg, image_transform_v2
from PIL import Image
from torchvision import transforms

from embeddings.encoders.clip import _resize_crop_recipe, _split_preprocess
from embeddings.images.decoding import ResizeCrop

SIZES = [(448, 332), (332, 448), (224, 224), (225, 224), (224, 500), (300, 300), (97, 61), (1000, 224), (3, 900)]


def _picture(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(width * 10_000 + height)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize("size", [224, 128, (224, 224)], ids=["224", "128", "squash"])
@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_it_matches_open_clips_preprocessing_pixel_for_pixel(size: int | tuple[int, int], interpolation: str) -> None:
    resize_mode = "squash" if isinstance(size, tuple) else "shortest"
    preprocess = image_transform_v2(
        PreprocessCfg(size=size, interpolation=interpolation, resize_mode=resize_mode), is_train=False
    )
    resize_crop, _ = _split_preprocess(preprocess)
    recipe = _resize_crop_recipe(resize_crop)
    assert recipe is not None
    for width, height in SIZES:
        image = _picture(width, height)
        expected = np.asarray(resize_crop(image))
        np.testing.assert_array_equal(np.asarray(recipe.apply(image)), expected, err_msg=f"{width}x{height}")


def test_it_pads_like_torchvision_where_the_crop_is_larger_than_the_image() -> None:
    steps = transforms.Compose([transforms.Resize(200), transforms.CenterCrop((224, 230))])
    recipe = _resize_crop_recipe(steps)
    assert recipe == ResizeCrop(size=(200,), interpolation=Image.Resampling.BILINEAR, crop=(224, 230))
    for width, height in [(300, 200), (200, 300), (201, 199), (640, 100)]:
        image = _picture(width, height)
        np.testing.assert_array_equal(np.asarray(recipe.apply(image)), np.asarray(steps(image)))


def test_it_has_no_recipe_for_other_transforms() -> None:
    assert (
        _resize_crop_recipe(transforms.Compose([transforms.Resize(224, max_size=300), transforms.CenterCrop(224)]))
        is None
    )
    assert _resize_crop_recipe(transforms.Compose([transforms.CenterCrop(224), transforms.Resize(224)])) is None
    assert _resize_crop_recipe(transforms.Compose([transforms.Resize(224)])) is None
