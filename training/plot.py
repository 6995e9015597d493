"""A PNG of the training curves, drawn with Pillow so no plotting library is needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PANEL_WIDTH, PANEL_HEIGHT, MARGIN = 640, 160, 48
COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189))


def plot_curves(steps: list[float], series: dict[str, list[float]], path: Path) -> None:
    """One panel per series (their scales differ), raw values faint and a moving average on top."""
    image = Image.new("RGB", (PANEL_WIDTH + 2 * MARGIN, len(series) * (PANEL_HEIGHT + MARGIN) + MARGIN // 2), "white")
    draw = ImageDraw.Draw(image)
    x = np.asarray(steps, float)
    for i, (name, values) in enumerate(series.items()):
        top = MARGIN // 2 + i * (PANEL_HEIGHT + MARGIN) + 16
        y = np.asarray(values, float)
        finite = np.isfinite(y)
        draw.text((MARGIN, top - 16), name, fill="black")
        draw.rectangle((MARGIN, top, MARGIN + PANEL_WIDTH, top + PANEL_HEIGHT), outline=(160, 160, 160))
        if finite.sum() < 2 or x[-1] == x[0]:
            continue
        # Of a long curve, a few wild early values must not flatten the rest; a short one is shown whole.
        low, high = np.percentile(y[finite], [1, 99]) if finite.sum() >= 100 else (y[finite].min(), y[finite].max())
        high = high if high > low else low + 1
        colour = COLOURS[i % len(COLOURS)]
        box = (MARGIN, top, PANEL_WIDTH, PANEL_HEIGHT)
        draw.line(_points(x, y, low, high, box), fill=tuple(255 - (255 - c) // 3 for c in colour), width=1)
        draw.line(_points(x, moving_average(y, max(1, len(y) // 50)), low, high, box), fill=colour, width=2)
        draw.text((4, top), f"{high:.3g}", fill="black")
        draw.text((4, top + PANEL_HEIGHT - 10), f"{low:.3g}", fill="black")
        draw.text((MARGIN, top + PANEL_HEIGHT + 2), f"{x[0]:.7g}", fill="black")  # steps, or ψ = 0.2
        draw.text((MARGIN + PANEL_WIDTH - 40, top + PANEL_HEIGHT + 2), f"{x[-1]:.7g}", fill="black")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _points(x: np.ndarray, y: np.ndarray, low: float, high: float, box: tuple) -> list[tuple[float, float]]:
    """Finite (x, y) values as pixel positions in the box (left, top, width, height), y clipped to [low, high]."""
    left, top, width, height = box
    u = (x - x[0]) / (x[-1] - x[0])
    v = (np.clip(y, low, high) - low) / (high - low)
    return [(left + a * width, top + (1 - b) * height) for a, b, ok in zip(u, v, np.isfinite(y), strict=True) if ok]


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over `window` values (shorter at the start), ignoring non-finite ones."""
    finite = np.isfinite(values)
    sums = np.cumsum(np.where(finite, values, 0.0))
    counts = np.cumsum(finite)
    lagged_sums = np.concatenate([np.zeros(window), sums[:-window]])
    lagged_counts = np.concatenate([np.zeros(window), counts[:-window]])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums - lagged_sums) / (counts - lagged_counts)
