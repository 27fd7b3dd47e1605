"""Write a serving model's fast file: `python -m training.litert MODEL.keras` (training.export does it too).

The network goes through a Keras export archive with one endpoint per input shape the service runs it
at (`Segmenter.looks`: every canvas and the second look's square), uint8 in and the cast inside, and the
LiteRT converter turns the archive into one float32 `.tflite` whose signatures share the weights. No
quantisation: the same answers as the Keras file (checked here on real photos), only faster.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from model.litert import INPUT, OUTPUT, fast_path, fingerprint, load, signature, stamp_path
from model.segmenter import Segmenter

# The largest probability difference from the Keras graph that `write` accepts on a real photo: float32
# kernels in another order (measured about 4e-6 on the shipped model).
TOLERANCE = 1e-4


WEIGHTS = ("float32", "float16", "dynamic-int8")  # float32 is served; the others for bench.levers to compare


def convert(segmenter: Segmenter, shapes: list[tuple[int, int]] | None = None, weights: str = "float32") -> bytes:
    """The LiteRT model with one signature per shape (default `segmenter.looks`); `weights` other than
    float32 store the weights as float16 or int8 (dynamic-range quantisation), answers that differ."""
    import keras
    import tensorflow as tf

    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    shapes = list(dict.fromkeys(shapes or segmenter.looks))  # small sides can round two aspects to one shape
    network = segmenter.network
    archive = keras.export.ExportArchive()
    archive.track(network)
    for shape in shapes:
        archive.add_endpoint(name=signature(shape),
                             fn=lambda images: {OUTPUT: network(tf.cast(images, tf.float32), training=False)},
                             input_signature=[tf.TensorSpec((1, *shape, 3), tf.uint8, name=INPUT)])
    with tempfile.TemporaryDirectory() as folder:
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=[signature(s) for s in shapes])
        if weights != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if weights == "float16":
            converter.target_spec.supported_types = [tf.float16]
        return converter.convert()


def write(keras_path: Path) -> Path:
    """Convert the model at `keras_path`, write `<model>.tflite` and its stamp, and check it against Keras
    (on noise canvases of every shape; the tests compare the two on real photos)."""
    keras_path = Path(keras_path)
    segmenter = Segmenter.load(keras_path, fast=False)
    path = fast_path(keras_path)
    path.write_bytes(convert(segmenter))
    stamp_path(keras_path).write_text(json.dumps({"keras_sha256": fingerprint(keras_path),
                                                  "shapes": [list(shape) for shape in segmenter.looks]}, indent=2) + "\n")
    fast = load(keras_path, segmenter.looks)
    if fast is None:
        raise RuntimeError(f"the fast file {path} was written but does not load (see the log line above)")
    rng = np.random.default_rng(0)
    for shape in segmenter.looks:
        batch = rng.integers(0, 256, (1, *shape, 3), dtype=np.uint8)
        difference = float(np.abs(fast(batch) - segmenter.forward(batch)).max())
        if difference > TOLERANCE:
            raise RuntimeError(f"{path}: {signature(shape)} differs from the Keras graph by {difference:.2e}")
    return path


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m training.litert`."""
    parser = argparse.ArgumentParser(prog="python -m training.litert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="the serving .keras file (training.export's output)")
    args = parser.parse_args(argv)
    path = write(args.model)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {stamp_path(args.model)}; "
          f"every signature within {TOLERANCE:g} of the Keras graph")
    return 0


if __name__ == "__main__":
    sys.exit(main())
