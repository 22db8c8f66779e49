"""Pictures of a dish: one colour per species, the sun black; GIF/MP4 export.

``blend_rgb`` and ``territory_rgb`` are pure JAX (they run inside jitted
rollouts, e.g. for PBT-NCA's visual embedding); ``to_image`` and
``save_video`` run on the host.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np


def species_colours(num_species: int) -> np.ndarray:
    """float32[num_species + 1, 3] in [0, 1]: black for the sun, then evenly
    spaced saturated hues, one per species."""
    hues = [colorsys.hsv_to_rgb(i / num_species, 0.85, 1.0) for i in range(num_species)]
    return np.asarray([(0.0, 0.0, 0.0), *hues], np.float32)


def blend_rgb(alpha: jax.Array) -> jax.Array:
    """float32[H, W, 3]: each cell's colour is its aliveness-weighted mix of
    the entities' colours (``alpha`` is ``[H, W, N + 1]``)."""
    colours = jnp.asarray(species_colours(alpha.shape[-1] - 1))
    return alpha @ colours


def territory_rgb(alpha: jax.Array) -> jax.Array:
    """float32[H, W, 3]: each cell in the colour of its most alive entity."""
    colours = jnp.asarray(species_colours(alpha.shape[-1] - 1))
    return colours[jnp.argmax(alpha, axis=-1)]


def to_image(rgb: jax.Array | np.ndarray, scale: int = 8) -> np.ndarray:
    """uint8[H * scale, W * scale, 3] from a float picture in [0, 1]."""
    if scale < 1:
        raise ValueError(f"scale: expected a positive integer, got {scale}.")
    pixels = np.clip(np.asarray(jax.device_get(rgb), np.float32), 0.0, 1.0)
    pixels = np.round(pixels * 255.0).astype(np.uint8)
    return np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)


def save_video(frames: Sequence[np.ndarray], path: str | Path, fps: int = 10) -> Path:
    """Write uint8 frames as a GIF (Pillow) or an MP4 (needs ``imageio-ffmpeg``:
    ``pip install "omnigym[video]"``), chosen by the file's extension."""
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [np.asarray(frame, np.uint8) for frame in frames]
    if not frames:
        raise ValueError("save_video: expected at least one frame, got none.")
    suffix = path.suffix.lower()
    if suffix == ".gif":
        imageio.mimsave(path, frames, duration=1000.0 / fps, loop=0)
    elif suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError as error:
            raise ImportError(
                'MP4 export needs imageio-ffmpeg: pip install "omnigym[video]" (or save a .gif).'
            ) from error
        # H.264 wants even sides; pad by one pixel where needed.
        height, width = frames[0].shape[:2]
        pad = ((0, height % 2), (0, width % 2), (0, 0))
        imageio.mimsave(path, [np.pad(f, pad) for f in frames], fps=fps, macro_block_size=1)
    else:
        raise ValueError(f"save_video: expected a .gif or .mp4 path, got {path.name!r}.")
    return path
