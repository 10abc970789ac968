"""Privacy core: pure functions on bytes and numpy arrays (no Django here).

The public API is documented in full once the pipeline lands; so far:

- ``monitoring.vision.detect.Face``: frozen dataclass ``box=(x1, y1, x2, y2)`` in pixels,
  ``score``, optional ``keypoints``.
- ``monitoring.vision.detect.ShortRangeDetector().detect(image_bgr) -> list[Face]``.
- ``monitoring.vision.errors.VisionError`` and its subclasses.
"""
