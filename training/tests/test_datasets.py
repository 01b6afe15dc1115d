from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from PIL import Image

from catalog.harvest import sync_from_api
from catalog.models import Artwork
from training.datasets import DatasetError, check_caption_template, examples_from_catalog, split_examples
from training.options import Example

_IMAGE = Image.new("RGB", (4, 4))


def _examples(count: int) -> list[Example]:
    return [Example(key=f"images/{index}.jpg", caption=f"caption {index}", image=_IMAGE) for index in range(count)]


def _keys(examples: list[Example]) -> list[str]:
    return sorted(example.key for example in examples)


def test_it_splits_the_same_way_whatever_the_order() -> None:
    examples = _examples(200)

    forward = split_examples(examples, val_fraction=0.1, test_fraction=0.2)
    backward = split_examples(list(reversed(examples)), val_fraction=0.1, test_fraction=0.2)

    assert _keys(forward.test) == _keys(backward.test)
    assert _keys(forward.val) == _keys(backward.val)
    assert len(forward.train) + len(forward.val) + len(forward.test) == 200
    assert 20 <= len(forward.test) <= 60  # about a fifth


def test_it_keeps_an_item_in_its_split_when_others_are_added() -> None:
    small = split_examples(_examples(100), val_fraction=0.1, test_fraction=0.2)
    large = split_examples(_examples(300), val_fraction=0.1, test_fraction=0.2)

    assert set(_keys(small.test)) <= set(_keys(large.test))


@pytest.mark.parametrize("count", [3, 4, 5, 7])
@pytest.mark.parametrize(("val_fraction", "test_fraction"), [(0.1, 0.2), (0.0, 0.0), (0.0, 0.9), (0.5, 0.45)])
def test_it_leaves_no_split_empty_from_three_items(count: int, val_fraction: float, test_fraction: float) -> None:
    split = split_examples(_examples(count), val_fraction=val_fraction, test_fraction=test_fraction)

    assert split.train and split.val and split.test
    assert len(split.train) + len(split.val) + len(split.test) == count


def test_it_refuses_fractions_that_leave_nothing_to_train_on() -> None:
    with pytest.raises(DatasetError, match="fractions"):
        split_examples(_examples(10), val_fraction=0.5, test_fraction=0.5)


@pytest.mark.django_db(transaction=True)
def test_it_takes_visible_artworks_with_an_image_from_the_catalog(aic: Any) -> None:
    sync_from_api(limit=8)
    with_image = list(Artwork.objects.exclude(image_id="").order_by("aic_id"))
    hidden, withdrawn, broken, kept = with_image[0], with_image[1], with_image[2], with_image[3:]
    Artwork.objects.filter(pk=hidden.pk).update(is_hidden=True)
    Artwork.objects.filter(pk=withdrawn.pk).update(withdrawn_at=timezone.now())
    aic.set_image_bytes(broken.image_id, b"<html>Not found</html>", content_type="text/html")

    dataset = examples_from_catalog("{title} ({medium_display})", image_side=64)

    assert sorted(example.key for example in dataset.examples) == sorted(str(a.aic_id) for a in kept)
    first = next(example for example in dataset.examples if example.key == str(kept[0].aic_id))
    assert first.caption == f"{kept[0].title} ({kept[0].medium_display})"
    assert min(first.image.size) == 64  # short side shrunk to image_side
    assert [(item.key, item.reason) for item in dataset.skipped] == [
        (str(broken.aic_id), "not an image (unrecognised format)")
    ]


def test_it_refuses_a_caption_template_naming_an_unknown_field() -> None:
    with pytest.raises(DatasetError, match="no_such_field"):
        check_caption_template("{title} {no_such_field}")
