"""What a wider network would cost as served: `python -m bench.capacity [--widths 192 256] [--models FILE ...] [--repeats N]`.

Issue 27's capacity question has two halves: whether a wider head learns the richer data better (a training
run each, `python -m training.train --head-filters N`), and whether the service could afford it. This answers
the second. For each head width it builds the network `training.train --head-filters` would build, writes
it with its LiteRT fast file exactly as `training.export` does (`training.litert.write`), loads it as the
service does (`Segmenter.load`) and times, interleaved round after round with the shipped model (so that
the machine's drift falls on all alike):
- the bare forward pass on the 320 x 320 canvas, batch 1 (the engine the service picks: LiteRT on a CPU);
- the forward pass as served on the 12-megapixel astronaut of `python -m bench` (its canvas, and the
  second look where the person is large);
and reports each one's median and its ratio to the shipped model's (the target: at most 1.5x), with the
parameters and the sizes of both files (the target: at most 30 MB). The weights are untrained: the cost
of a forward pass does not depend on their values. `--models` prices saved model files (each with its
LiteRT file beside it) the same way, such as a candidate or the model shipped before.
Output: a markdown table on the terminal and bench/results/capacity.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.measure import SIZES, photo, publish
from bench.levers import interleaved
from model import SHIPPED_MODEL
from model.decode import decode
from model.litert import fast_path
from model.segmenter import Segmenter, serving_size

ROOT = Path(__file__).resolve().parents[1]


def build(width: int, folder: Path) -> Path:
    """A network of head width `width` at the serving size, saved with its fast file; returns the .keras path."""
    from training.config import ModelConfig
    from training.deeplab import build_deeplabv3plus
    from training.litert import write

    path = folder / f"head{width}.keras"
    build_deeplabv3plus(ModelConfig(head_filters=width), serving_size(SHIPPED_MODEL)).save(path)
    write(path)
    return path


def timers(segmenter: Segmenter, rgb: np.ndarray) -> dict[str, Callable[[], object]]:
    """The two timed calls on one segmenter: the bare 320 x 320 forward pass and the forward pass as served."""
    side = segmenter.size
    square = np.random.default_rng(0).integers(0, 256, (1, side, side, 3), dtype=np.uint8)
    canvas, placement = segmenter.canvas(rgb)
    return {"forward pass, square, batch 1": lambda: segmenter.forward(square),
            "forward pass as served (12 MP astronaut)": lambda: segmenter.look([canvas], [placement])}


def measure(models: dict[str, Path], repeats: int) -> dict[str, dict[str, float]]:
    """Median milliseconds of every timer of every model, called in turn round after round."""
    rgb = decode(photo(*SIZES["12MP"]), 10**9)
    calls: dict[tuple[str, str], Callable[[], object]] = {}
    for name, path in models.items():
        segmenter = Segmenter.load(path)
        segmenter.warm_up()
        calls.update({(name, label): call for label, call in timers(segmenter, rgb).items()})
    results: dict[str, dict[str, float]] = {}
    for (name, label), values in interleaved(calls, repeats).items():
        results.setdefault(name, {})[label] = statistics.median(values) * 1000
    return results


def sizes(path: Path) -> dict[str, float]:
    import keras

    return {"parameters": keras.saving.load_model(path, compile=False).count_params(),
            "keras MB": path.stat().st_size / 1e6, "tflite MB": fast_path(path).stat().st_size / 1e6}


def table(results: dict[str, dict[str, float]], files: dict[str, dict[str, float]]) -> str:
    base = results["shipped"]
    labels = list(base)
    head = "| model | parameters | .keras / .tflite MB | " + " | ".join(f"{label} ms (ratio)" for label in labels) + " |"
    lines = [head, "|---" + "|---:" * (2 + len(labels)) + "|"]
    for name, row in results.items():
        cells = [f"{row[label]:.1f} ({row[label] / base[label]:.2f}x)" for label in labels]
        info = files[name]
        lines.append(f"| {name} | {info['parameters']:,} | {info['keras MB']:.1f} / {info['tflite MB']:.1f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", type=int, nargs="*", default=[192, 256], help="head widths to price")
    parser.add_argument("--models", type=Path, nargs="*", default=[], metavar="FILE",
                        help="saved .keras files to price beside the shipped one, by their file name")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "capacity.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        models = {"shipped": SHIPPED_MODEL}
        models.update({f"head {width}": build(width, Path(folder)) for width in args.widths})
        models.update({path.name: path for path in args.models})
        files = {name: sizes(path) for name, path in models.items()}
        results = measure(models, args.repeats)
    publish(table(results, files), {"repeats": args.repeats, "median_ms": results, "files": files}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
