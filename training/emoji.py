"""Colour emoji as a training set: Noto Color Emoji's bitmaps (Debian's fonts-noto-color-emoji, images under
Apache-2.0), rendered to RGBA with their transparent backgrounds and labelled with their Unicode group.

Every fully-qualified emoji of Unicode's emoji-test.txt (Debian's unicode-data) is drawn with Pillow, which
shapes sequences (skin tones, families, flags) into the font's single glyph when it has libraqm; a
sequence that comes out as several glyphs (no raqm, or a sequence this font lacks) is left out and
counted. Glyphs are 136×128: each is centred on a transparent square and reduced with premultiplied
alpha, so no dark fringe comes from the invisible pixels' colour.

Pixels are straight (not premultiplied) RGBA in [-1, 1], as GIMP stores a layer with transparency;
fully transparent pixels are black. A fixed tenth of the emoji (every tenth in Unicode's order) is the
test split, kept out of training for the metric classifier.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch.utils.data import Dataset

from training.data import DataError

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
FONT_SIZE = 109  # the size of the font's one bitmap strike: glyphs come out at 136×128, unscaled
GLYPH = (136, 128)
SKIPPED_GROUPS = ("Component",)  # skin-tone swatches and hair pieces, not emoji of their own
TEST_EVERY = 10


def emoji_list(path: Path = EMOJI_TEST) -> list[tuple[str, str, str]]:
    """(group, name, text) of each fully-qualified emoji in emoji-test.txt, in Unicode's order."""
    if not path.is_file():
        raise DataError(f"{path}: Unicode's emoji list not found. Install it with `apt-get install unicode-data`")
    emoji, group = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif "; fully-qualified" in line and group not in SKIPPED_GROUPS:
            codepoints, _, comment = line.partition(";")
            text = "".join(chr(int(c, 16)) for c in codepoints.split())
            name = comment.split("#", 1)[1].strip().split(" ", 2)[-1]  # "# 😀 E1.0 grinning face" → the name
            emoji.append((group, name, text))
    return emoji


def render(text: str, font: ImageFont.FreeTypeFont, size: int) -> Image.Image | None:
    """The emoji as a size × size RGBA image, or None when the font does not draw it as one glyph."""
    left, top, right, bottom = font.getbbox(text)
    if (right - left, bottom - top) != GLYPH:
        return None
    side = max(GLYPH)
    canvas = Image.new("RGBA", (side, side))
    glyph = Image.new("RGBA", GLYPH)
    ImageDraw.Draw(glyph).text((-left, -top), text, font=font, embedded_color=True)
    if glyph.getbbox() is None:
        return None
    canvas.paste(glyph, ((side - GLYPH[0]) // 2, (side - GLYPH[1]) // 2))
    pixels = np.array(canvas.convert("RGBa").resize((size, size), Image.Resampling.LANCZOS).convert("RGBA"))
    pixels[pixels[..., 3] == 0] = 0
    return Image.fromarray(pixels)


class Emoji(Dataset):
    """The emoji of one split as (4, size, size) tensors in [-1, 1], held in memory, labelled by group."""

    def __init__(self, size: int = 64, split: str = "train", font_path: Path = FONT, emoji_test: Path = EMOJI_TEST):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if not font_path.is_file():
            raise DataError(f"{font_path}: no emoji font. Install it with `apt-get install fonts-noto-color-emoji`")
        font = ImageFont.truetype(str(font_path), FONT_SIZE)
        listed = emoji_list(emoji_test)
        self.classes = tuple(dict.fromkeys(group for group, _, _ in listed))
        images, labels, self.names, skipped = [], [], [], []
        for index, (group, name, text) in enumerate(listed):
            if (index % TEST_EVERY == TEST_EVERY - 1) != (split == "test"):
                continue
            image = render(text, font, size)
            if image is None:
                skipped.append((Path(name), "not one glyph in this font (or Pillow without libraqm)"))
                continue
            images.append(np.asarray(image))
            labels.append(self.classes.index(group))
            self.names.append(name)
        if not images:
            raise DataError(f"{font_path}: no emoji could be drawn")
        self.skipped = tuple(skipped)
        pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
        self.images = pixels.div_(127.5).sub_(1.0)
        self.labels = torch.tensor(labels, dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])
