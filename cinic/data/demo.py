"""The embedded demo data set: ten procedurally drawn classes in CINIC-10's layout.

It lets every page and command work before the 690 MB CINIC-10 is downloaded.
Each class is a motif (a plane seen from above, a car with two wheels, a cat's
head with pointed ears...) drawn with random position, scale, rotation, colour,
background scene, clutter and noise, so a LeNet learns it well but not
perfectly. Some pairs share palettes and shapes on purpose, as in CINIC-10:
cat/dog, automobile/truck, deer/horse (and bird/airplane share the sky), so a
confusion matrix has structure to show.

Half of the files are named like CINIC-10's CIFAR-10 images
(`cifar10-train-00017.png`), half like its ImageNet ones (`n02121808_00017.png`);
the "ImageNet" half is drawn with more clutter, scale and noise, so accuracy per
origin differs as it does on the real data.

Same seed and counts give byte-identical files. The set is built in a hidden
folder beside `out` and renamed into place, so an interrupted build never
leaves a half data set that looks complete.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cinic.atomic import build_folder, read_or_build
from cinic.data.dataset import CLASSES, SPLITS
from cinic.errors import CinicError

DEMO_VERSION = 1          # bump when the drawing changes, so old demo folders are rebuilt
DEFAULT_PER_CLASS = (200, 50, 50)   # images per class in train, valid, test
MARKER = "demo.json"      # written last: its presence means the folder is complete
README = "DEMO.txt"
CANVAS = 64               # drawn at 2x, then box-downsampled to 32x32 (cheap anti-aliasing)

# A plausible WordNet id per class, as CINIC-10 names its ImageNet images.
SYNSETS = {
    "airplane": "n02691156", "automobile": "n02958343", "bird": "n01503061",
    "cat": "n02121808", "deer": "n02430045", "dog": "n02084071", "frog": "n01639765",
    "horse": "n02374451", "ship": "n04194289", "truck": "n04490091",
}

Progress = Callable[[int, int], None]
RGB = tuple[int, int, int]


class DemoError(CinicError):
    """Bad demo parameters, or a target folder that is not ours to replace."""


# ---------------------------------------------------------------- drawing kit

RAMP = np.linspace(0.0, 1.0, CANVAS, dtype=np.float32)[:, None, None]   # top to bottom
UNIT_CIRCLE = [(math.cos(t), math.sin(t)) for t in np.linspace(0, 2 * math.pi, 16, endpoint=False)]


@dataclass
class Pen:
    """Draws shapes given in object units: (0, 0) is the object's centre, x in about [-1, 1].

    Position, scale, rotation and mirroring are the per-image jitter, applied here
    once so the motif functions stay plain lists of shapes.
    """
    draw: ImageDraw.ImageDraw
    cx: float
    cy: float
    scale: float      # canvas pixels per object unit
    angle: float      # radians
    flip: int         # +1 or -1 (mirror left-right)

    def xy(self, x: float, y: float) -> tuple[float, float]:
        x *= self.flip
        c, s = math.cos(self.angle), math.sin(self.angle)
        return (self.cx + (c * x - s * y) * self.scale, self.cy + (s * x + c * y) * self.scale)

    def ellipse(self, x: float, y: float, rx: float, ry: float, fill: RGB) -> None:
        # An axis-aligned ellipse as a polygon, so it rotates with the object.
        points = [(x + rx * cos, y + ry * sin) for cos, sin in UNIT_CIRCLE]
        self.polygon(points, fill)

    def polygon(self, points, fill: RGB) -> None:
        self.draw.polygon([self.xy(*p) for p in points], fill=fill)

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: RGB) -> None:
        self.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], fill)

    def line(self, points, fill: RGB, width: float) -> None:
        self.draw.line([self.xy(*p) for p in points], fill=fill,
                       width=max(1, round(width * self.scale)))


def channel(value: float) -> int:
    return int(min(max(value, 0.0), 255.0))


def jitter(rng: np.random.Generator, base: RGB, amount: float = 25) -> RGB:
    return tuple(channel(c + rng.uniform(-amount, amount)) for c in base)


def pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def shade(colour: RGB, factor: float) -> RGB:
    return tuple(channel(c * factor) for c in colour)


# Palettes shared between confusable classes on purpose.
FUR = ((200, 130, 60), (130, 130, 130), (45, 40, 38), (230, 228, 220), (120, 80, 50), (215, 190, 150))
PAINT = ((190, 30, 30), (30, 60, 170), (235, 235, 235), (35, 35, 40), (220, 190, 40), (140, 145, 150))
HIDE = ((150, 105, 65), (110, 70, 40), (170, 130, 90), (60, 45, 35), (225, 220, 210), (125, 120, 115))

SKY, CLOUD, DUSK = (120, 170, 225), (190, 195, 205), (220, 170, 140)
GRASS, FOREST, SOIL = (95, 145, 60), (55, 85, 45), (125, 105, 75)
ROAD, CITY, WATER = (105, 105, 110), (150, 140, 135), (45, 90, 150)
WALL, FLOOR, POND = (205, 190, 165), (150, 110, 80), (65, 90, 60)


# ---------------------------------------------------------------- motifs

def draw_airplane(pen: Pen, rng: np.random.Generator) -> None:
    body = jitter(rng, pick(rng, ((225, 225, 230), (200, 200, 205), (150, 155, 165), (235, 235, 240))))
    wing = shade(body, rng.uniform(0.75, 0.95))
    pen.ellipse(0, 0, 1.0, 0.13, body)
    sweep = rng.uniform(0.1, 0.45)
    for side in (-1, 1):
        pen.polygon([(0.2, -0.05 * side), (0.2 - sweep, -0.9 * side),
                     (0.0 - sweep, -0.9 * side), (-0.2, -0.05 * side)], wing)
        pen.polygon([(-0.7, -0.03 * side), (-0.9, -0.35 * side),
                     (-1.0, -0.35 * side), (-0.92, -0.03 * side)], wing)


def draw_bird(pen: Pen, rng: np.random.Generator) -> None:
    feathers = jitter(rng, pick(rng, ((120, 85, 55), (190, 40, 35), (50, 90, 180), (220, 190, 50),
                                      (40, 40, 40), (225, 225, 220))))
    pen.polygon([(-0.45, 0.05), (-0.95, -0.1 + rng.uniform(-0.1, 0.1)), (-0.95, 0.3)], shade(feathers, 0.8))
    pen.ellipse(0, 0.1, 0.55, 0.33, feathers)
    pen.ellipse(-0.08, 0.05, 0.38, 0.17, shade(feathers, rng.uniform(0.55, 0.8)))
    pen.ellipse(0.5, -0.22, 0.24, 0.22, feathers)
    pen.polygon([(0.7, -0.28), (0.95, -0.2), (0.7, -0.14)], jitter(rng, (230, 150, 40)))
    pen.ellipse(0.56, -0.26, 0.05, 0.05, (15, 15, 15))
    for x in (-0.1, 0.12):
        pen.line([(x, 0.4), (x, 0.7)], (70, 55, 40), 0.05)


def car_wheels(pen: Pen, xs, y: float, r: float) -> None:
    for x in xs:
        pen.ellipse(x, y, r, r, (25, 25, 25))
        pen.ellipse(x, y, r * 0.45, r * 0.45, (150, 150, 155))


def draw_automobile(pen: Pen, rng: np.random.Generator) -> None:
    paint = jitter(rng, pick(rng, PAINT))
    glass = jitter(rng, (150, 185, 210), 20)
    # A third of the cars are vans/SUVs: taller, boxier cabins that look like trucks.
    roof = -0.35 if rng.random() < 0.67 else -0.55
    back = -0.55 if roof > -0.4 else -0.85
    pen.polygon([(back, 0.05), (back + 0.22, roof), (0.35, roof), (0.62, 0.05)], paint)
    pen.polygon([(back + 0.12, 0.0), (back + 0.28, roof + 0.08), (0.3, roof + 0.08), (0.48, 0.0)], glass)
    pen.rect(-1.0, 0.02, 1.0, 0.4, paint)
    pen.ellipse(0.98, 0.12, 0.05, 0.05, (240, 230, 160))
    car_wheels(pen, (-0.6, 0.6), 0.42, 0.2)


def draw_truck(pen: Pen, rng: np.random.Generator) -> None:
    paint = jitter(rng, pick(rng, PAINT))
    cargo = paint if rng.random() < 0.5 else jitter(rng, pick(rng, PAINT))
    glass = jitter(rng, (150, 185, 210), 20)
    # A third are pickups: a low open bed, much like a car from the side.
    if rng.random() < 0.33:
        pen.rect(-1.0, -0.02, 0.35, 0.38, cargo)
        pen.rect(0.35, -0.4, 1.0, 0.38, paint)
        pen.polygon([(0.45, -0.33), (0.8, -0.33), (0.92, -0.05), (0.45, -0.05)], glass)
        car_wheels(pen, (-0.6, 0.62), 0.42, 0.2)
    else:
        pen.rect(-1.0, -0.65, 0.38, 0.33, cargo)
        pen.rect(0.42, -0.4, 1.0, 0.38, paint)
        pen.polygon([(0.5, -0.33), (0.82, -0.33), (0.94, -0.05), (0.5, -0.05)], glass)
        car_wheels(pen, (-0.7, -0.3, 0.7), 0.42, 0.19)


def draw_cat(pen: Pen, rng: np.random.Generator) -> None:
    fur = jitter(rng, pick(rng, FUR))
    if rng.random() < 0.4:
        pen.ellipse(0, 0.85, 0.7, 0.4, shade(fur, 0.9))
    # Most cats have tall pointed ears; a fifth have small folded ones, like some dogs.
    ear = rng.uniform(0.45, 0.7) if rng.random() < 0.8 else rng.uniform(0.15, 0.25)
    for side in (-1, 1):
        pen.polygon([(0.52 * side, -0.1), (0.38 * side, -0.3 - ear), (0.08 * side, -0.3)], fur)
        pen.polygon([(0.42 * side, -0.15), (0.34 * side, -0.2 - ear * 0.7), (0.16 * side, -0.3)],
                    shade(jitter(rng, (230, 160, 160)), 0.9))
    pen.ellipse(0, 0.1, 0.55, 0.47, fur)
    eye = jitter(rng, pick(rng, ((120, 190, 60), (210, 190, 50), (90, 160, 200))))
    for side in (-1, 1):
        pen.ellipse(0.22 * side, 0.0, 0.1, 0.08, eye)
        pen.line([(0.22 * side, -0.06), (0.22 * side, 0.06)], (10, 10, 10), 0.04)
        for dy in (-0.05, 0.05):
            pen.line([(0.12 * side, 0.3), (0.6 * side, 0.3 + dy * 2)], (235, 235, 235), 0.02)
    pen.polygon([(-0.07, 0.2), (0.07, 0.2), (0, 0.28)], (220, 130, 140))


def draw_dog(pen: Pen, rng: np.random.Generator) -> None:
    fur = jitter(rng, pick(rng, FUR))
    ears = shade(fur, rng.uniform(0.5, 0.85))
    if rng.random() < 0.4:
        pen.ellipse(0, 0.9, 0.7, 0.4, shade(fur, 0.9))
    pointed = rng.random() < 0.3       # shepherds and huskies: cat-like ears
    if pointed:
        ear = rng.uniform(0.35, 0.6)
        for side in (-1, 1):
            pen.polygon([(0.5 * side, -0.1), (0.4 * side, -0.3 - ear), (0.12 * side, -0.35)], ears)
    pen.ellipse(0, 0.05, 0.48, 0.55, fur)
    if not pointed:
        for side in (-1, 1):
            pen.ellipse(0.5 * side, 0.1, 0.16, 0.4, ears)
    pen.ellipse(0, 0.35, 0.26, 0.2, shade(fur, 1.25))
    pen.ellipse(0, 0.24, 0.1, 0.07, (20, 20, 20))
    for side in (-1, 1):
        pen.ellipse(0.2 * side, -0.08, 0.07, 0.07, (30, 20, 15))
    if rng.random() < 0.3:
        pen.ellipse(0, 0.55, 0.09, 0.1, (220, 100, 110))


def legs(pen: Pen, xs, top: float, bottom: float, colour: RGB, width: float) -> None:
    for x in xs:
        pen.line([(x, top), (x, bottom)], colour, width)


def draw_deer(pen: Pen, rng: np.random.Generator) -> None:
    hide = jitter(rng, pick(rng, HIDE[:3]))
    legs(pen, (-0.45, -0.3, 0.3, 0.45), 0.2, 0.95, shade(hide, 0.85), 0.07)
    pen.ellipse(0, 0.1, 0.6, 0.27, hide)
    pen.polygon([(0.35, -0.05), (0.55, -0.55), (0.7, -0.5), (0.55, 0.05)], hide)
    pen.ellipse(0.72, -0.55, 0.2, 0.12, hide)
    pen.ellipse(-0.58, 0.0, 0.08, 0.07, (235, 230, 220))
    if rng.random() < 0.6:      # antlers: the one cue a hornless deer lacks against a horse
        antler = jitter(rng, (200, 180, 140))
        pen.line([(0.65, -0.65), (0.55, -1.05), (0.42, -1.2)], antler, 0.04)
        pen.line([(0.58, -0.9), (0.75, -1.05)], antler, 0.04)
        pen.line([(0.75, -0.65), (0.85, -1.0)], antler, 0.04)


def draw_horse(pen: Pen, rng: np.random.Generator) -> None:
    hide = jitter(rng, pick(rng, HIDE))
    mane = shade(hide, rng.uniform(0.3, 0.6))
    legs(pen, (-0.45, -0.3, 0.3, 0.45), 0.2, 0.95, shade(hide, 0.85), 0.1)
    pen.polygon([(-0.62, 0.0), (-0.85, 0.55), (-0.72, 0.55)], mane)
    pen.ellipse(0, 0.08, 0.65, 0.3, hide)
    pen.polygon([(0.35, -0.05), (0.6, -0.6), (0.8, -0.55), (0.6, 0.1)], hide)
    pen.line([(0.38, -0.1), (0.62, -0.62)], mane, 0.08)
    pen.ellipse(0.85, -0.45, 0.28, 0.12, hide)


def draw_frog(pen: Pen, rng: np.random.Generator) -> None:
    skin = jitter(rng, pick(rng, ((70, 150, 60), (110, 140, 50), (60, 110, 50), (120, 100, 60),
                                  (200, 60, 40), (230, 190, 40))))
    for side in (-1, 1):
        pen.ellipse(0.68 * side, 0.4, 0.32, 0.15, shade(skin, 0.85))
    pen.ellipse(0, 0.15, 0.75, 0.42, skin)
    pen.ellipse(0, 0.35, 0.5, 0.18, shade(skin, 1.3))
    for _ in range(int(rng.integers(3, 9))):
        pen.ellipse(rng.uniform(-0.5, 0.5), rng.uniform(-0.1, 0.3), 0.08, 0.06, shade(skin, 0.5))
    for side in (-1, 1):
        pen.ellipse(0.35 * side, -0.25, 0.17, 0.17, skin)
        pen.ellipse(0.35 * side, -0.27, 0.08, 0.08, (15, 15, 10))


def draw_ship(pen: Pen, rng: np.random.Generator) -> None:
    hull = jitter(rng, pick(rng, ((35, 35, 45), (170, 40, 35), (230, 230, 230), (40, 60, 110))))
    deck = jitter(rng, pick(rng, ((235, 235, 235), (200, 200, 195), (180, 150, 110))))
    pen.rect(-0.45, -0.4, 0.35, 0.02, deck)
    pen.rect(-0.25, -0.7, -0.05, -0.38, jitter(rng, pick(rng, ((200, 60, 40), (40, 40, 40), (220, 180, 40)))))
    pen.line([(0.6, 0.0), (0.6, -0.85)], (60, 60, 60), 0.04)
    pen.polygon([(-1.0, 0.0), (1.0, 0.0), (0.8, 0.32), (-0.88, 0.32)], hull)


@dataclass(frozen=True)
class Scene:
    """How a class is usually photographed: a background and where the object stands."""
    motif: Callable[[Pen, np.random.Generator], None]
    tops: tuple[RGB, ...]          # sky / wall colours to choose from
    grounds: tuple[RGB, ...]       # ground colours (road, water, grass, floor)
    ground_at: float | None        # ground line in object units below the centre; None: random
    scale: tuple[float, float]     # canvas pixels per object unit
    tilt: float                    # max rotation, degrees


SCENES = {
    "airplane": Scene(draw_airplane, (SKY, CLOUD, SKY, DUSK), (ROAD, GRASS), None, (17, 25), 35),
    "automobile": Scene(draw_automobile, (SKY, CITY, GRASS), (ROAD,), 0.55, (17, 23), 6),
    "bird": Scene(draw_bird, (SKY, CLOUD, GRASS, FOREST), (GRASS, SOIL), None, (16, 24), 15),
    "cat": Scene(draw_cat, (WALL, FLOOR, CITY, GRASS), (FLOOR, WALL), None, (19, 27), 12),
    "deer": Scene(draw_deer, (FOREST, GRASS, SKY), (GRASS, SOIL, FOREST), 0.9, (17, 22), 5),
    "dog": Scene(draw_dog, (WALL, FLOOR, GRASS, CITY), (FLOOR, GRASS), None, (19, 27), 12),
    "frog": Scene(draw_frog, (POND, FOREST, SOIL, GRASS), (POND, SOIL), None, (20, 28), 20),
    "horse": Scene(draw_horse, (GRASS, SKY, FOREST), (GRASS, SOIL), 0.9, (17, 22), 5),
    "ship": Scene(draw_ship, (SKY, CLOUD, DUSK), (WATER,), 0.22, (17, 24), 5),
    "truck": Scene(draw_truck, (SKY, CITY, GRASS), (ROAD,), 0.55, (17, 23), 6),
}


# ---------------------------------------------------------------- one image

def background(rng: np.random.Generator, top: RGB, bottom: RGB) -> np.ndarray:
    """A vertical gradient between two jittered colours, as float32 CANVAS x CANVAS x 3."""
    t = RAMP
    a = np.array(jitter(rng, top, 30), np.float32)
    b = np.array(jitter(rng, bottom, 30), np.float32)
    return np.broadcast_to(a * (1 - t) + b * t, (CANVAS, CANVAS, 3))


def clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, count: int, near: RGB) -> None:
    """Blobs, boxes and sticks in colours near the background: things that are not the object."""
    for _ in range(count):
        x, y = rng.uniform(0, CANVAS, 2)
        w, h = rng.uniform(3, 22, 2)
        colour = jitter(rng, near, 70)
        kind = int(rng.integers(3))
        if kind == 0:
            draw.ellipse([x, y, x + w, y + h], fill=colour)
        elif kind == 1:
            draw.rectangle([x, y, x + w, y + h], fill=colour)
        else:
            draw.line([x, y, x + w, y + h * rng.choice((-1, 1))], fill=colour, width=int(rng.integers(1, 4)))


def draw_image(rng: np.random.Generator, class_name: str, imagenet: bool) -> np.ndarray:
    """One 32x32x3 uint8 image of the class; `imagenet` images are busier and noisier."""
    scene = SCENES[class_name]
    top, ground = pick(rng, scene.tops), pick(rng, scene.grounds)
    img = Image.fromarray(background(rng, top, pick(rng, scene.tops)).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    spread = 12 if imagenet else 8
    scale = rng.uniform(*scene.scale) * (rng.uniform(0.75, 1.15) if imagenet else 1.0)
    cx, cy = CANVAS / 2 + rng.uniform(-spread, spread), CANVAS / 2 + rng.uniform(-spread, spread)
    pen = Pen(draw, cx=cx, cy=cy, scale=scale, angle=math.radians(rng.uniform(-scene.tilt, scene.tilt)),
              flip=int(rng.choice((-1, 1))))
    horizon = pen.cy + scene.ground_at * scale if scene.ground_at is not None else rng.uniform(40, 70)
    if horizon < CANVAS:
        draw.rectangle([0, horizon, CANVAS, CANVAS], fill=jitter(rng, ground, 20))
    clutter(draw, rng, int(rng.integers(2, 7) if imagenet else rng.integers(1, 4)), top)
    scene.motif(pen, rng)
    if imagenet and rng.random() < 0.5:     # something in front of the object
        clutter(draw, rng, 1, pick(rng, (top, ground)))
    pixels = np.asarray(img.reduce(2), np.float32)
    contrast, brightness = rng.uniform(0.7, 1.2), rng.uniform(-30, 30)
    pixels = (pixels - pixels.mean()) * contrast + pixels.mean() + brightness
    pixels += rng.normal(0.0, rng.uniform(5, 12) if imagenet else rng.uniform(3, 8), pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- the data set

def file_name(split: str, class_index: int, index: int, per_class: int) -> str:
    """Even indices are named like CINIC-10's CIFAR images, odd ones like its ImageNet images.

    CINIC-10 names CIFAR images in train and valid `cifar10-train-N` and in test
    `cifar10-test-N`; numbers are unique within a split.
    """
    number = class_index * per_class + index // 2
    if index % 2 == 0:
        source = "test" if split == "test" else "train"
        return f"cifar10-{source}-{number:05d}.png"
    return f"{SYNSETS[CLASSES[class_index]]}_{number:05d}.png"


def check_per_class(per_class) -> tuple[int, int, int]:
    try:
        counts = tuple(int(n) for n in per_class)
    except (TypeError, ValueError):
        counts = ()
    if len(counts) != len(SPLITS) or any(n < 1 for n in counts):
        raise DemoError(f"per_class must be three positive counts (train, valid, test), got {per_class!r}")
    return counts


def write_split(folder: Path, split: str, per_class: int, seed: int, tick: Callable[[], None]) -> None:
    for class_index, class_name in enumerate(CLASSES):
        target = folder / split / class_name
        target.mkdir(parents=True)
        # One generator per (split, class): counts of one split never change another's images.
        rng = np.random.default_rng([seed, SPLITS.index(split), class_index])
        for i in range(per_class):
            pixels = draw_image(rng, class_name, imagenet=i % 2 == 1)
            Image.fromarray(pixels, "RGB").save(target / file_name(split, class_index, i, per_class), "PNG")
            tick()


def describe(per_class: tuple[int, int, int], seed: int) -> str:
    counts = ", ".join(f"{split} {n * len(CLASSES)}" for split, n in zip(SPLITS, per_class))
    return (
        "CINIC-10 Explorer demo data set\n\n"
        "Synthetic 32x32 RGB images drawn by cinic/data/demo.py, not photographs: ten classes\n"
        "named like CINIC-10's, each a drawn motif with random position, scale, colour,\n"
        "background clutter and noise. Some pairs look alike on purpose (cat/dog,\n"
        "automobile/truck, deer/horse). Files named cifar10-* are drawn cleaner than\n"
        "files named n<synset>_*, mimicking CINIC-10's two origins.\n\n"
        f"Images: {counts} (seed {seed}, generator version {DEMO_VERSION}).\n"
        "It exists so the app and CLI work before CINIC-10 is downloaded; accuracy on it\n"
        "says nothing about accuracy on CINIC-10. Rebuild: delete this folder.\n"
    )


def is_complete(out: Path, per_class=DEFAULT_PER_CLASS, seed: int = 0) -> bool:
    """True when `out` is a demo set of this generator version, these counts and seed, all files present."""
    try:
        marker = json.loads((Path(out) / MARKER).read_text())
    except (OSError, ValueError):
        return False
    if marker != {"version": DEMO_VERSION, "seed": seed, "per_class": list(per_class)}:
        return False
    for split, n in zip(SPLITS, per_class):
        for class_name in CLASSES:
            folder = Path(out) / split / class_name
            if not folder.is_dir() or sum(1 for p in os.scandir(folder) if p.name.endswith(".png")) != n:
                return False
    return True


def refuse_foreign(out: Path) -> None:
    """Only an empty folder or a demo set we made (it has our marker) may be replaced."""
    if out.exists() and (not out.is_dir() or (not (out / MARKER).is_file() and any(out.iterdir()))):
        raise DemoError(f"{out} exists and is not a demo data set made by cinic; "
                        "move it away or choose another folder for the demo")


def make_demo_dataset(out, per_class=DEFAULT_PER_CLASS, seed: int = 0,
                      progress: Progress | None = None) -> Path:
    """Draw the demo data set into `out` (train/valid/test/<class>/*.png) and return `out`.

    `per_class` is the number of images per class in train, valid and test.
    `progress(done_images, total_images)` is called after each image. The set
    is drawn beside `out` and renamed into place, replacing an older demo set.
    """
    out = Path(out).absolute()
    counts = check_per_class(per_class)
    refuse_foreign(out)
    total, done = sum(counts) * len(CLASSES), 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    def draw(folder: Path) -> None:
        for split, n in zip(SPLITS, counts):
            write_split(folder, split, n, seed, tick)
        (folder / README).write_text(describe(counts, seed))
        (folder / MARKER).write_text(json.dumps({"version": DEMO_VERSION, "seed": seed,
                                                 "per_class": list(counts)}))
        refuse_foreign(out)  # again: a folder of someone else's may have appeared while we drew

    return build_folder(out, draw)


def ensure_demo_dataset(out, per_class=DEFAULT_PER_CLASS, seed: int = 0,
                        progress: Progress | None = None) -> Path:
    """Return `out`, making the demo set first if it is missing, incomplete or of other parameters.

    Two processes may call this at once: the second waits, then finds the set complete.
    """
    out = Path(out).absolute()
    counts = check_per_class(per_class)
    return read_or_build(out, lambda: out if is_complete(out, counts, seed) else None,
                         lambda: make_demo_dataset(out, counts, seed, progress))
