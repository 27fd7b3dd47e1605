"""What a larger student would cost to serve: `python -m bench.student [--repeats N]`.

Builds each candidate network (`training.deeplab`, untrained: the time of a forward pass does not depend on
the weights) at the serving square, converts it to the float32 LiteRT file the service runs (XNNPACK), and
times batch-1 forward passes interleaved round by round, beside today's architecture (one output, a
128-wide head). The issue's budget: at most 2.5x today's forward pass, an artefact of at most 30 MB.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from bench.levers import interleaved
from bench.measure import publish, summary

SERVING = 320
# (name, ModelConfig fields): today's network first, the ratio's reference.
CANDIDATES = (
    ("today: one output, head 128", {"outputs": 1, "head_filters": 128}),
    ("two outputs, head 128", {"outputs": 2, "head_filters": 128}),
    ("two outputs, head 192", {"outputs": 2, "head_filters": 192}),
    ("two outputs, head 256", {"outputs": 2, "head_filters": 256}),
)


def forward_of(fields: dict) -> tuple[object, int, int]:
    """(the LiteRT forward pass at SERVING, parameters, LiteRT file bytes) of one candidate."""
    from ai_edge_litert.interpreter import Interpreter

    from model.litert import FastForward, default_threads
    from model.segmenter import Segmenter
    from training.config import ModelConfig
    from training.deeplab import build_deeplabv3plus
    from training.litert import convert

    network = build_deeplabv3plus(dataclasses.replace(ModelConfig(), **fields), SERVING)
    segmenter = Segmenter(network, SERVING, second_look=None)
    flatbuffer = convert(segmenter, [(SERVING, SERVING)])
    fast = FastForward(Interpreter(model_content=flatbuffer, num_threads=default_threads()), [(SERVING, SERVING)])
    return fast, network.count_params(), len(flatbuffer)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench.student`."""
    parser = argparse.ArgumentParser(prog="python -m bench.student", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("bench/results/student.json"))
    args = parser.parse_args(argv)
    canvas = np.random.default_rng(0).integers(0, 256, (1, SERVING, SERVING, 3), dtype=np.uint8)
    built = {name: forward_of(fields) for name, fields in CANDIDATES}
    times = interleaved({name: (lambda fast=fast: fast(canvas)) for name, (fast, _, _) in built.items()},
                        args.repeats)
    reference = summary(times[CANDIDATES[0][0]])["median_s"]
    rows = [{"candidate": name, **summary(times[name]), "parameters": params, "litert_bytes": size,
             "ratio_to_today": summary(times[name])["median_s"] / reference}
            for name, (_, params, size) in built.items()]
    lines = [f"| candidate | forward at {SERVING} (median ms) | x today | parameters | LiteRT MB |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['candidate']} | {r['median_s'] * 1000:.1f} | {r['ratio_to_today']:.2f} | {r['parameters']:,} | "
              f"{r['litert_bytes'] / 1e6:.1f} |" for r in rows]
    publish("\n".join(lines), {"serving": SERVING, "rows": rows}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
