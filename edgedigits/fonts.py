"""TrueType/OpenType fonts for printed digits and letters: in the world training data and in test footage.

Needs Pillow (a dependency of matplotlib, so on every workstation); matplotlib's own fonts are always there,
and the system's fonts (Debian's fonts-* packages) add families.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgedigits import EdgeDigitsError
from edgedigits.data import CLASSES
from edgedigits.device.normalize import normalize_crop

FONT_FOLDERS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
HELD_OUT = 5  # every HELD_OUT-th font family (sorted by name) is kept out of training, for testing
# matplotlib's math and symbol fonts: their digit code points hold other glyphs, or digits in other shapes.
SYMBOL_FONTS = ("cmsy", "cmex", "cmmi", "STIXSiz", "STIXNonUni", "LastResort", "DejaVuMathTeXGyre")


def font_files() -> list[Path]:
    """TrueType/OpenType fonts: matplotlib's own, where it is installed, and the system's."""
    folders = list(FONT_FOLDERS)
    try:
        import matplotlib
        folders.insert(0, Path(matplotlib.get_data_path()) / "fonts" / "ttf")
    except ImportError:
        pass
    return sorted({p.resolve() for folder in folders if folder.is_dir() for p in folder.rglob("*")
                   if p.suffix.lower() in (".ttf", ".otf") and not p.stem.startswith(SYMBOL_FONTS)})


def family(path: Path) -> str:
    """A font file's family: its name up to the first '-' or style word (DejaVuSans-Bold -> DejaVuSans)."""
    name = path.stem.split("-")[0]
    for style in ("Bold", "Italic", "Oblique", "Regular", "Bol", "Ita"):
        name = name.split(style)[0] or name
    return name


class Renderer:
    """Text in one font as white-on-black ink, tightly cut."""

    def __init__(self, path: Path, size: int = 48):
        try:
            from PIL import ImageFont
        except ImportError:
            raise EdgeDigitsError("TrueType text needs Pillow: pip install pillow") from None
        self.path, self.font = path, ImageFont.truetype(str(path), size)

    def ink(self, text: str, stroke: int = 0) -> np.ndarray:
        from PIL import Image, ImageDraw
        left, top, right, bottom = self.font.getbbox(text, stroke_width=stroke)
        canvas = Image.new("L", (max(1, right - left) + 8, max(1, bottom - top) + 8), 0)
        ImageDraw.Draw(canvas).text((4 - left, 4 - top), text, font=self.font, fill=255, stroke_width=stroke,
                                    stroke_fill=255)
        image = np.asarray(canvas)
        x, y, w, h = cv2.boundingRect(image)
        return image[y:y + h, x:x + w]


def digit_fonts() -> list[Renderer]:
    """The fonts whose ten digits are ten different glyphs (fallback fonts draw boxes or nothing)."""
    usable = []
    for path in font_files():
        try:
            renderer = Renderer(path)
            crops = np.stack([normalize_crop(renderer.ink(d)) for d in CLASSES]).astype(np.float32)
        except (OSError, ValueError):
            continue
        distances = np.abs(crops[:, None] - crops[None]).mean(axis=(2, 3)) + np.eye(len(CLASSES)) * 255
        if crops.max(axis=(1, 2)).min() > 0 and distances.min() > 8:
            usable.append(renderer)
    return usable


def split_fonts(fonts: list[Renderer]) -> tuple[list[Renderer], list[Renderer]]:
    """Fonts to train on and fonts held out for testing, whole families apart."""
    held_out = sorted({family(f.path) for f in fonts})[2::HELD_OUT]
    train = [f for f in fonts if family(f.path) not in held_out]
    return train, [f for f in fonts if family(f.path) in held_out] or train
