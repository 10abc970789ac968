"""Privacy core: pure functions on bytes and numpy arrays (no Django here).

Reviewers never see a face: every frame is decoded safely, its faces found and hidden,
and it is re-encoded from pixels so that no metadata survives. Privacy fails closed.

Public API (other stages build on it; keep it stable):

``monitoring.vision.errors``
    ``VisionError`` and its subclasses ``UnsupportedFormat``, ``ImageTooLarge``,
    ``CorruptImage``, ``ModelUnavailable``, ``DetectionFailed``, ``UnsupportedMedia``,
    ``InvalidPolicy``. Adapters translate the family once at their edge.

``monitoring.vision.decode``
    ``decode_image(data: bytes, *, limits=DEFAULT_LIMITS) -> BgrImage``: JPEG/PNG/WebP by
    magic bytes, header limits (2 MB, 4096x4096, 16 MP by default, ``DecodeLimits``)
    enforced before decoding, EXIF orientation applied.
    ``probe_image(data, *, limits) -> ImageInfo`` (format, width, height, orientation).
    ``encode_jpeg(image_bgr, *, quality=80) -> bytes``, ``encode_image(image_bgr, format)``
    and ``strip_metadata(data) -> bytes``: pixels only, no EXIF/GPS/XMP/ICC/comments.

``monitoring.vision.detect``
    ``Face``: frozen dataclass, ``box=(x1, y1, x2, y2)`` in pixels (x2/y2 exclusive),
    ``score: float``, ``keypoints: tuple[tuple[float, float], ...]`` (may be empty).
    ``ShortRangeDetector`` (MediaPipe Tasks, BlazeFace short range) and
    ``CenterFaceDetector`` (onnxruntime, one thread): create once, reuse, ``with`` closes;
    ``.detect(image_bgr) -> list[Face]``. Helpers ``iou``, ``nms``, ``merge_faces``.

``monitoring.vision.anonymize``
    ``AnonymizationPolicy(method="blur"|"pixelate"|"mask", strength=5 (1-10),
    shape="ellipse"|"box", margin=0.25, blur_frame_when_no_face=False,
    persistence_frames=5, head_top=0.35)`` (``head_top``: hide the hair above the box too);
    ``anonymize_faces(image_bgr, faces, policy) -> BgrImage``;
    ``blur_whole_frame(image_bgr) -> BgrImage``.

``monitoring.vision.tracking``
    ``FaceTracker(persistence_frames=N).update(faces) -> list[Face]``: IoU tracking that
    keeps a lost face hidden for N frames.

``monitoring.vision.pipeline``
    ``shared_face_finder() -> FaceFinder``: both detectors, loaded once per process.
    ``FrameAnonymizer(policy, *, finder=None, wide_every_n_frames=1)``, one per stream
    (``wide_every_n_frames > 1``: CenterFace on a cadence and whenever the picture changes);
    ``.process(image) -> FrameResult(image, faces, is_whole_frame_blurred,
    whole_frame_reason, detected_faces)``: ``faces`` are hidden (fresh and held),
    ``detected_faces`` only what a detector found in this frame. Detector errors and
    unanalysable frames blur the whole frame.
    ``anonymize_image(image, policy) -> FrameResult`` for a single still, and
    ``anonymize_jpeg(data: bytes, policy, *, limits, quality=80) -> bytes``: bytes in,
    anonymized metadata-free JPEG out (the live stream's task; raises the decode errors).

Models are vendored in ``models/`` (``models/MODELS.md``); nothing is downloaded at run
time. ``python manage.py anonymize_media PATH... --out DIR [--method] [--strength]
[--shape] [--wide-every N] [--blur-frame-when-no-face]`` anonymizes recorded media with it.
"""
