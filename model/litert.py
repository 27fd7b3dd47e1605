"""The fast forward pass: the saved network as a float32 LiteRT model on XNNPACK, one signature per input shape.

`training.export` writes `<model>.tflite` beside `<model>.keras`, with `<model>.tflite.json` naming the
Keras file's SHA-256 and the shapes. The same weights in float32, so the same probabilities (within
7.5e-4 of TensorFlow's on real photos, a fifth of one alpha level) at a quarter of the time on a CPU
(docs/PERFORMANCE.md, "Forward pass engines"). Where the file is missing, damaged, stale (made from another Keras file) or LiteRT is
not installed, `load` says why in one log line and returns None: the Keras graph serves instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

INPUT, OUTPUT = "images", "probability"  # every signature's input (uint8 canvases) and output names


def fast_path(keras_path: Path) -> Path:
    """Where the fast file of a Keras model lives: beside it, `.tflite` for `.keras`."""
    return Path(keras_path).with_suffix(".tflite")


def stamp_path(keras_path: Path) -> Path:
    """The fast file's stamp: the Keras file it was made from and its shapes."""
    return fast_path(keras_path).with_name(fast_path(keras_path).name + ".json")


def signature(shape: tuple[int, int]) -> str:
    """The signature name of one input shape (height, width)."""
    return f"canvas_{shape[0]}x{shape[1]}"


def fingerprint(path: Path) -> str:
    """SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_threads() -> int:
    """XNNPACK's threads: the machine's cores, at most 4 (measured: docs/PERFORMANCE.md)."""
    return max(1, min(4, os.cpu_count() or 1))


class FastForward:
    """The LiteRT model's signatures, called like `Segmenter.forward` on canvases of the shapes it holds.

    One interpreter for every shape, behind a lock: an interpreter is not safe to call from two threads,
    and XNNPACK packs the weights once per interpreter.
    """

    def __init__(self, interpreter, shapes: list[tuple[int, int]]):
        self.shapes = list(shapes)
        self._runners = {shape: interpreter.get_signature_runner(signature(shape)) for shape in self.shapes}
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 canvases of one held shape -> (N, H, W, outputs) float32 probabilities."""
        runner = self._runners[tuple(batch.shape[1:3])]
        with self._lock:
            return np.stack([runner(**{INPUT: canvas[None]})[OUTPUT][0] for canvas in batch])


def load(keras_path: Path, shapes: list[tuple[int, int]], threads: int | None = None,
         sha256: str | None = None) -> FastForward | None:
    """The fast forward pass of `keras_path` for `shapes`, or None (with one log line saying why); `sha256`:
    the Keras file's, where the caller has it already (read otherwise)."""
    path, stamp = fast_path(keras_path), stamp_path(keras_path)
    fallback = f"serving with the Keras graph instead (slower); write it with python -m training.litert {keras_path}"
    if not path.is_file() or not stamp.is_file():
        log.warning("no fast LiteRT file %s: %s", path, fallback)
        return None
    try:
        recorded = json.loads(stamp.read_text())
        made_from, held = recorded["keras_sha256"], [tuple(shape) for shape in recorded["shapes"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("fast LiteRT stamp %s unreadable (%s): %s", stamp, error, fallback)
        return None
    if made_from != (sha256 or fingerprint(keras_path)):
        log.warning("fast LiteRT file %s is stale (made from another %s): %s", path, Path(keras_path).name, fallback)
        return None
    missing = [shape for shape in shapes if shape not in held]
    if missing:
        log.warning("fast LiteRT file %s lacks the shapes %s: %s", path, missing, fallback)
        return None
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        log.warning("ai-edge-litert is not installed (requirements.txt): %s", fallback)
        return None
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=threads or default_threads())
        return FastForward(interpreter, shapes)
    except (RuntimeError, ValueError) as error:  # a damaged flatbuffer or a missing signature
        log.warning("fast LiteRT file %s could not be loaded (%s): %s", path, error, fallback)
        return None
