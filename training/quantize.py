"""The int8 LiteRT (TFLite) lever: `python -m training.quantize --model M.keras --run RUN_DIR [--out DIR]`.

Converts a saved serving model to a fully int8-quantised TFLite model, calibrated on letterboxed
photos of the run's training split, then evaluates the float and the int8 model on the same split
(default: the test split) with `training.evaluate`, and times one forward pass of each. The int8
path is worth serving only if its Jaccard stays within 0.005 of the float model's and it is faster.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from model.letterbox import letterbox
from model.segmenter import Segmenter
from training import data as datalib
from training.evaluate import evaluate, format_table
from training.export import median_ms

JACCARD_TOLERANCE = 0.005

log = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m training.quantize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path, help="a serving .keras model (fixed input size)")
    parser.add_argument("--run", required=True, type=Path, help="run folder whose manifest gives the photos")
    parser.add_argument("--split", choices=("test", "val"), default="test")
    parser.add_argument("--calibration", type=int, default=96, help="training photos used to calibrate int8")
    parser.add_argument("--out", type=Path, default=None, help="folder for model.tflite and int8.json")
    return parser.parse_args(argv)


def calibration_images(pairs: list[datalib.Pair], size: int, count: int) -> Iterator[list[np.ndarray]]:
    """Letterboxed float32 photos spread evenly over the given pairs (every root), as the converter wants."""
    step = max(1, len(pairs) // count)
    for pair in pairs[::step][:count]:
        sample = datalib.read_pair(pair)
        if sample is not None:
            yield [letterbox(sample.image, size)[0][None].astype(np.float32)]


def convert_int8(segmenter: Segmenter, pairs: list[datalib.Pair], count: int) -> bytes:
    """Full-integer TFLite model with float32 input and output (the quantise steps sit inside)."""
    import tensorflow as tf

    size = segmenter.size
    function = tf.function(lambda images: segmenter.network(images, training=False),
                           input_signature=[tf.TensorSpec((1, size, size, 3), tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: calibration_images(pairs, size, count)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


class LiteSegmenter(Segmenter):
    """The TFLite model behind the Segmenter interface (`predict`, used by `training.evaluate`).

    Only the forward pass differs, so the Keras network and its traced graph are not set up.
    `kernels` says what runs it: "XNNPACK" (TFLite's default CPU delegate) or "builtin".
    """

    def __init__(self, model: bytes, size: int, threads: int = 2, xnnpack: bool = True):
        self.size, self.device = size, "CPU"
        self.second_look = None  # the converted model takes one input shape, its square
        self.turn_look = False  # as served
        self.shapes = [(size, size)]
        self.kernels = "XNNPACK" if xnnpack else "builtin"
        try:
            self.interpreter = _interpreter(model, threads, xnnpack)
        except RuntimeError as error:
            if not xnnpack:
                raise
            # XNNPACK can claim an int8 node and then fail to prepare it (tensorflow/tensorflow#77293,
            # google/XNNPACK#11036); TFLite's builtin kernels run the same model, only slower.
            log.warning("XNNPACK could not prepare the int8 model (%s); using the builtin kernels", error)
            self.kernels = "builtin"
            self.interpreter = _interpreter(model, threads, xnnpack=False)
        self._input = self.interpreter.get_input_details()[0]["index"]
        self._output = self.interpreter.get_output_details()[0]["index"]
        self._outputs = None

    def forward_all(self, batch: np.ndarray) -> np.ndarray:
        """(N, size, size, outputs) probabilities, one image at a time (the converted model has batch 1)."""
        out = []
        for image in batch:
            self.interpreter.set_tensor(self._input, image[None].astype(np.float32))
            self.interpreter.invoke()
            out.append(self.interpreter.get_tensor(self._output)[0])
        return np.stack(out)


def _interpreter(model: bytes, threads: int, xnnpack: bool):
    """A TFLite interpreter with its tensors allocated, with or without the default XNNPACK delegate."""
    import tensorflow as tf

    resolver = tf.lite.experimental.OpResolverType
    interpreter = tf.lite.Interpreter(
        model_content=model, num_threads=threads,
        experimental_op_resolver_type=resolver.AUTO if xnnpack else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    return interpreter


def forward_ms(segmenter: Segmenter) -> float:
    """Median milliseconds of one batch-1 forward pass (after a warm-up)."""
    canvas = np.random.default_rng(0).integers(0, 256, (1, segmenter.size, segmenter.size, 3), dtype=np.uint8)
    return median_ms(lambda: segmenter.forward(canvas))


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m training.quantize`."""
    args = parse_args(argv)
    manifest = datalib.load_manifest(args.run / "manifest.json")
    segmenter = Segmenter.load(args.model)
    int8_model = convert_int8(segmenter, manifest["train"], args.calibration)
    lite = LiteSegmenter(int8_model, segmenter.size)
    out = args.out or args.run / "int8"
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.tflite").write_bytes(int8_model)
    report = {"int8_kernels": lite.kernels}
    for name, candidate in (("float32 (Keras)", segmenter), ("int8 (TFLite)", lite)):
        _, summary, _ = evaluate(candidate, manifest[args.split])
        report[name] = {"forward_ms": forward_ms(candidate), "summary": summary}
        print(f"{name}: forward pass {report[name]['forward_ms']:.1f} ms at {segmenter.size}x{segmenter.size}, "
              f"{args.split} split:\n{format_table(summary)}\n")
    drops = {key: report["float32 (Keras)"]["summary"][key]["jaccard"] - report["int8 (TFLite)"]["summary"][key]["jaccard"]
             for key in report["int8 (TFLite)"]["summary"]}
    keep = all(drop <= JACCARD_TOLERANCE for drop in drops.values()) and \
        report["int8 (TFLite)"]["forward_ms"] < report["float32 (Keras)"]["forward_ms"]
    report["jaccard_drop"], report["keep_int8"] = drops, keep
    print("Jaccard drop (float - int8): " + ", ".join(f"{Path(k).name} {v:+.4f}" for k, v in drops.items()))
    print(f"keep the int8 path: {'yes' if keep else 'no'} (needs every drop <= {JACCARD_TOLERANCE} and a faster pass)")
    (out / "int8.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"int8 kernels: {lite.kernels}; model: {out / 'model.tflite'}; report: {out / 'int8.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
