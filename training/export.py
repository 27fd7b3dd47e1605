"""Write the serving artefact: `python -m training.export RUN_DIR --out model/<name>.keras [--size N]`.

The run's best weights go into a fresh network with a fixed square input at the serving size and
no optimizer or loss, so the file is small and loads with plain `keras.saving.load_model()`; beside it
goes the fast float32 LiteRT file that the service runs on a CPU (`training.litert`, `model.litert`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import keras
import numpy as np

from training import litert
from training.config import RunConfig
from training.deeplab import build_deeplabv3plus

DEFAULT_SERVING_SIZE = 320  # chosen on the validation split: see model/MODEL_CARD.md
TIMING_RUNS = 20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="run folder written by training.train")
    parser.add_argument("--out", required=True, type=Path, help="the .keras file to write")
    parser.add_argument("--size", type=int, default=DEFAULT_SERVING_SIZE, help="serving input side (multiple of 16)")
    parser.add_argument("--checkpoint", default="best.keras", help="model file inside the run folder")
    return parser.parse_args(argv)


def export(run: Path, out: Path, size: int, checkpoint: str = "best.keras") -> keras.Model:
    """Copy the run's trained weights into a fixed-size, optimizer-free network and save it."""
    config = RunConfig.load(run / "config.json")
    trained = keras.saving.load_model(run / checkpoint, compile=False)
    # The encoder's initial weights are overwritten below: do not read them again.
    model_config = dataclasses.replace(config.model, encoder_weights="none")
    serving = build_deeplabv3plus(model_config, size)
    serving.set_weights(trained.get_weights())
    out.parent.mkdir(parents=True, exist_ok=True)
    serving.save(out)
    return serving


def median_ms(function, runs: int = TIMING_RUNS) -> float:
    """Median milliseconds of `runs` calls of `function`, after one warm-up call."""
    function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def forward_ms(model: keras.Model, size: int, runs: int = TIMING_RUNS) -> float:
    """Median milliseconds of one batch-1 forward pass at `size` (after a warm-up)."""
    import tensorflow as tf

    forward = tf.function(lambda x: model(x, training=False))
    image = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    return median_ms(lambda: forward(image).numpy(), runs)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m training.export`."""
    args = parse_args(argv)
    if args.size % 16:
        print(f"error: --size must be a multiple of 16, got {args.size}", file=sys.stderr)
        return 2
    model = export(args.run, args.out, args.size, args.checkpoint)
    reloaded = keras.saving.load_model(args.out, compile=False)
    megabytes = args.out.stat().st_size / 1e6
    print(f"wrote {args.out}: {reloaded.count_params():,} parameters, {megabytes:.1f} MB, input {args.size}x{args.size}")
    print(f"forward pass at {args.size}x{args.size}, batch 1: {forward_ms(model, args.size):.1f} ms "
          f"(median of {TIMING_RUNS})")
    fast = litert.write(args.out)
    print(f"wrote {fast} ({fast.stat().st_size / 1e6:.1f} MB): the LiteRT forward pass, serving the Keras "
          f"graph's alpha within {litert.ALPHA_LEVELS} level")
    return 0


if __name__ == "__main__":
    sys.exit(main())
