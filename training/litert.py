"""Write a serving model's fast file: `python -m training.litert MODEL.keras` (training.export does it too).

The network goes through a Keras export archive with one endpoint per input shape the service runs it
at (`Segmenter.looks`: every canvas and the second look's square), uint8 in and the cast inside, and the
LiteRT converter turns the archive into one float32 `.tflite` whose signatures share the weights. No
quantisation: the same alpha as the Keras file (checked here on a real photo), only faster.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from model.compose import to_alpha8
from model.litert import INPUT, OUTPUT, FastForward, fast_path, fingerprint, load, signature, stamp_path
from model.segmenter import Segmenter

# What `write` checks, because it is what a user sees: the served alpha (0-255) of the fast file is within
# ALPHA_LEVELS of the Keras graph's on a real photo at every input shape. Float32 kernels summed in another
# order differ by 4e-6 in probability on the shipped model and by 1.2e-4 on a model one epoch from random
# weights (larger logits); one alpha level is 1/255 = 3.9e-3, and any difference at all can round a pixel to
# the next level. The old bound, 1e-4 in probability on noise, refused such freshly trained models.
ALPHA_LEVELS = 1
CHECK_PHOTO = Path(__file__).resolve().parents[1] / "docs" / "astronaut.jpg"  # public domain (NASA)


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


def write(keras_path: Path, photo: Path = CHECK_PHOTO) -> Path:
    """Convert the model at `keras_path`, write `<model>.tflite` and its stamp, and check that it serves the
    Keras graph's alpha (`check`) on `photo`; a RuntimeError where it does not."""
    keras_path = Path(keras_path)
    segmenter = Segmenter.load(keras_path, fast=False)
    path = fast_path(keras_path)
    path.write_bytes(convert(segmenter))
    stamp_path(keras_path).write_text(json.dumps({"keras_sha256": fingerprint(keras_path),
                                                  "shapes": [list(shape) for shape in segmenter.looks]}, indent=2) + "\n")
    fast = load(keras_path, segmenter.looks)
    if fast is None:
        raise RuntimeError(f"the fast file {path} was written but does not load (see the log line above)")
    rgb = cv2.cvtColor(cv2.imread(str(photo), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    for shape, levels in check(fast, segmenter, rgb).items():
        if levels > ALPHA_LEVELS:
            raise RuntimeError(f"{path}: {signature(shape)} serves an alpha {levels} levels from the Keras graph's "
                               f"on {photo.name} (at most {ALPHA_LEVELS} allowed)")
    return path


def check(fast: FastForward, segmenter: Segmenter, rgb: np.ndarray) -> dict[tuple[int, int], int]:
    """The largest difference in alpha levels (0-255) between the fast file and the Keras graph, per input
    shape, on the photo `rgb` scaled to that shape, over every output of the network."""
    levels = {}
    for height, width in segmenter.looks:
        canvas = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)[None]
        served, graph = to_alpha8(fast(canvas)[0]), to_alpha8(segmenter.graph_forward(canvas)[0])
        levels[(height, width)] = int(np.abs(served.astype(np.int16) - graph).max())
    return levels


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m training.litert`."""
    parser = argparse.ArgumentParser(prog="python -m training.litert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="the serving .keras file (training.export's output)")
    args = parser.parse_args(argv)
    path = write(args.model)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {stamp_path(args.model)}; "
          f"every signature serves the Keras graph's alpha within {ALPHA_LEVELS} level")
    return 0


if __name__ == "__main__":
    sys.exit(main())
