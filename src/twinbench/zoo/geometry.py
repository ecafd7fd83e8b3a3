"""Framework-neutral input-size rules shared by the twins of a model.

Kept apart from the twin files so the Keras twin can use them without importing torch (one
framework per process) and both twins reject a bad size with the same one-line message.
"""

from __future__ import annotations

from twinbench.errors import UserError


def check_unet_input(height: int, width: int, levels: int) -> None:
    """Each of the levels-1 pools halves the size, and upsampling must restore it exactly."""
    div = 2 ** (levels - 1)
    if height % div or width % div:
        raise UserError(
            f"a U-Net with {levels} levels needs image sizes divisible by {div}, got "
            f"{height}x{width}; use an image_size that is a multiple of {div}"
        )
