"""The image type every stage passes around."""

from typing import Any, cast

import numpy as np
import numpy.typing as npt

# An (height, width, 3) uint8 array in OpenCV's BGR channel order.
BgrImage = npt.NDArray[np.uint8]


def as_bgr(array: Any) -> BgrImage:
    """Tell the type checker that an OpenCV result is a uint8 image (no copy, no check)."""
    return cast(BgrImage, array)
