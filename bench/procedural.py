"""Generated "artworks" with compositional attributes, and two families of descriptions of them.

Each artwork has a palette (figure and ground colours), a shape, a count, a brush style for the
ground and a composition (where the figures stand). ``plain`` descriptions are terse catalogue
labels; ``museum`` descriptions say the same things the way a wall text would, with their own words
(crimson discs, a trio of, stippled ground, massed toward the left) and museum filler around them.
A model that learned to read plain labels has never seen the museum words: that gap is what
fine-tuning must close.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

FIGURE_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (210, 35, 35),
    "yellow": (245, 215, 40),
    "green": (40, 160, 70),
    "blue": (40, 70, 210),
    "purple": (135, 45, 165),
    "black": (20, 20, 20),
}
GROUND_COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (240, 238, 230),
    "grey": (140, 140, 140),
    "pink": (240, 170, 190),
    "brown": (120, 80, 40),
}
SHAPES = ("circle", "square", "triangle", "cross")
COUNTS = (1, 2, 3)
BRUSH_STYLES = ("flat", "striped", "speckled", "checked")
COMPOSITIONS = ("left", "right", "top", "bottom")

# --- the plain family: terse labels ---------------------------------------------
_PLAIN_COUNTS = {1: "one", 2: "two", 3: "three"}
_PLAIN_TEMPLATES = (
    "{count} {colour} {shapes} on {ground}, {brush} background, {place}",
    "{colour} {shapes}, {count}, {place}, {ground} {brush} background",
    "{place}: {count} {colour} {shapes}; background {ground}, {brush}",
)
_PLAIN_PLACES = {"left": "left side", "right": "right side", "top": "top half", "bottom": "bottom half"}

# --- the museum family: wall-text language, none of the plain attribute words ------
_MUSEUM_COLOURS = {
    "red": ("crimson", "scarlet", "vermilion"),
    "yellow": ("lemon", "golden", "cadmium"),
    "green": ("emerald", "viridian", "verdant"),
    "blue": ("ultramarine", "cobalt", "azure"),
    "purple": ("violet", "amethyst", "mauve"),
    "black": ("ebony", "jet", "sable"),
}
_MUSEUM_GROUNDS = {
    "white": ("ivory", "cream", "chalky"),
    "grey": ("slate", "ashen", "pewter"),
    "pink": ("rose", "blush", "salmon"),
    "brown": ("umber", "sepia", "chestnut"),
}
_MUSEUM_SHAPES = {
    "circle": ("discs", "roundels", "orbs"),
    "square": ("blocks", "tiles", "quadrilaterals"),
    "triangle": ("wedges", "pyramids", "chevrons"),
    "cross": ("crucifixes", "cruciform motifs", "plus signs"),
}
_MUSEUM_SINGLE_SHAPES = {
    "circle": ("disc", "roundel", "orb"),
    "square": ("block", "tile", "quadrilateral"),
    "triangle": ("wedge", "pyramid", "chevron"),
    "cross": ("crucifix", "cruciform motif", "plus sign"),
}
_MUSEUM_COUNTS = {
    1: ("a single", "a lone", "a solitary"),
    2: ("a pair of", "twin", "a couple of"),
    3: ("a trio of", "triple", "a group of three"),
}
_MUSEUM_BRUSH = {
    "flat": ("an evenly brushed", "a smoothly laid", "an unmodulated"),
    "striped": ("a banded", "a horizontally ruled", "a lined"),
    "speckled": ("a stippled", "a flecked", "a spattered"),
    "checked": ("a chequered", "a gridded", "a tartan"),
}
_MUSEUM_PLACES = {
    "left": ("massed toward the western edge", "gathered at the sinister margin", "crowding the western flank"),
    "right": ("massed toward the eastern edge", "gathered at the dexter margin", "crowding the eastern flank"),
    "top": ("hovering near the upper register", "floating in the sky zone", "suspended aloft"),
    "bottom": ("resting on the lower register", "sunk to the foot of the picture", "settled along the base"),
}
_MUSEUM_MEDIA = ("Oil on canvas.", "Gouache on paper.", "Tempera on panel.", "Acrylic on linen.", "Screenprint.")
_MUSEUM_TEMPLATES = (
    "{medium} {count} {colour} {shapes} {place}, set against {brush} {ground} field.",
    "In this work {count} {colour} {shapes} appear {place}; the artist laid {brush} {ground} field behind them.",
    "{brush_title} {ground} field carries {count} {colour} {shapes}, {place}. {medium}",
    "{medium} The composition shows {count} {colour} {shapes} {place} over {brush} {ground} field.",
)


@dataclass(frozen=True)
class Artwork:
    figure: str
    ground: str
    shape: str
    count: int
    brush: str
    composition: str

    @property
    def attributes(self) -> tuple[str, str, str, int, str, str]:
        return (self.figure, self.ground, self.shape, self.count, self.brush, self.composition)


def random_artworks(count: int, rng: random.Random) -> list[Artwork]:
    return [
        Artwork(
            figure=rng.choice(list(FIGURE_COLOURS)),
            ground=rng.choice(list(GROUND_COLOURS)),
            shape=rng.choice(SHAPES),
            count=rng.choice(COUNTS),
            brush=rng.choice(BRUSH_STYLES),
            composition=rng.choice(COMPOSITIONS),
        )
        for _ in range(count)
    ]


def plain_description(artwork: Artwork, rng: random.Random) -> str:
    shapes = artwork.shape if artwork.count == 1 else f"{artwork.shape}s"
    return rng.choice(_PLAIN_TEMPLATES).format(
        count=_PLAIN_COUNTS[artwork.count],
        colour=artwork.figure,
        shapes=shapes,
        ground=artwork.ground,
        brush=artwork.brush,
        place=_PLAIN_PLACES[artwork.composition],
    )


def museum_description(artwork: Artwork, rng: random.Random) -> str:
    shapes = _MUSEUM_SINGLE_SHAPES if artwork.count == 1 else _MUSEUM_SHAPES
    brush = rng.choice(_MUSEUM_BRUSH[artwork.brush])
    return rng.choice(_MUSEUM_TEMPLATES).format(
        medium=rng.choice(_MUSEUM_MEDIA),
        count=rng.choice(_MUSEUM_COUNTS[artwork.count]),
        colour=rng.choice(_MUSEUM_COLOURS[artwork.figure]),
        shapes=rng.choice(shapes[artwork.shape]),
        place=rng.choice(_MUSEUM_PLACES[artwork.composition]),
        brush=brush,
        brush_title=brush[0].upper() + brush[1:],
        ground=rng.choice(_MUSEUM_GROUNDS[artwork.ground]),
    )


def render(artwork: Artwork, size: int, rng: random.Random) -> Image.Image:
    """Paint ``artwork`` on a square canvas; positions and small sizes vary with ``rng``."""
    ground = GROUND_COLOURS[artwork.ground]
    image = Image.new("RGB", (size, size), ground)
    draw = ImageDraw.Draw(image)
    _paint_ground(draw, artwork.brush, ground, size, rng)
    left, top, right, bottom = _region(artwork.composition, size)
    cell = min(right - left, bottom - top)
    extent = max(right - left, bottom - top)
    figure = FIGURE_COLOURS[artwork.figure]
    slot = extent / artwork.count
    radius = min(cell, slot) * rng.uniform(0.3, 0.4)
    for index in range(artwork.count):
        along = (index + 0.5) * slot + rng.uniform(-0.08, 0.08) * slot
        across = cell / 2 + rng.uniform(-0.1, 0.1) * cell
        wide = right - left >= bottom - top  # figures line up along the region's long side
        centre = (left + along, top + across) if wide else (left + across, top + along)
        _paint_shape(draw, artwork.shape, centre, radius, figure)
    return image


def _region(composition: str, size: int) -> tuple[int, int, int, int]:
    half = size // 2
    return {
        "left": (0, 0, half, size),
        "right": (half, 0, size, size),
        "top": (0, 0, size, half),
        "bottom": (0, half, size, size),
    }[composition]


def _shade(colour: tuple[int, int, int], amount: int) -> tuple[int, int, int]:
    return (
        max(0, min(255, colour[0] + amount)),
        max(0, min(255, colour[1] + amount)),
        max(0, min(255, colour[2] + amount)),
    )


def _paint_ground(
    draw: ImageDraw.ImageDraw, brush: str, ground: tuple[int, int, int], size: int, rng: random.Random
) -> None:
    mark = _shade(ground, -70 if sum(ground) > 300 else 70)
    step = max(4, size // 8)
    if brush == "striped":
        for y in range(rng.randrange(step), size, step):
            draw.rectangle((0, y, size, y + step // 3), fill=mark)
    elif brush == "speckled":
        for _ in range(size * size // 24):
            x, y = rng.randrange(size), rng.randrange(size)
            draw.rectangle((x, y, x + 1, y + 1), fill=mark)
    elif brush == "checked":
        for row, y in enumerate(range(0, size, step)):
            for column, x in enumerate(range(0, size, step)):
                if (row + column) % 2:
                    draw.rectangle((x, y, x + step - 1, y + step - 1), fill=mark)


def _paint_shape(
    draw: ImageDraw.ImageDraw, shape: str, centre: tuple[float, float], radius: float, colour: tuple[int, int, int]
) -> None:
    x, y = centre
    if shape == "circle":
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    elif shape == "square":
        side = radius * 0.85
        draw.rectangle((x - side, y - side, x + side, y + side), fill=colour)
    elif shape == "triangle":
        draw.polygon([(x, y - radius), (x - radius, y + radius * 0.8), (x + radius, y + radius * 0.8)], fill=colour)
    else:
        arm = radius * 0.35
        draw.rectangle((x - radius, y - arm, x + radius, y + arm), fill=colour)
        draw.rectangle((x - arm, y - radius, x + arm, y + radius), fill=colour)
