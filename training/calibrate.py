"""Measure the served model's output bias on validation: `python -m training.calibrate --model M --run RUN [--out OUT]`.

The network ends in a 1x1 convolution per output (`logits`, and `logits_everyone` in a two-output network)
and a sigmoid, and the service uses the probability as the alpha. --people picks the output, as the
service's option does (subject: `logits`; all: `logits_everyone`, which is never below the subject's).
Adding b to that convolution's bias shifts every logit by b: the same network, with the
person/background balance moved (b > 0: more pixels are person, more recall). A network trained on a mix
of sets sits at the balance of its training mix, which need not be the one the selection score wants.

Each bias is scored exactly as the model is served (the saved network with that bias, the photo at the
serving size, the edge refinement) on the run's validation split of every set, with the one selection
score (`training.selection`). With --out, a bias (--bias, else the best-scoring) is folded into a copy
of the saved file, so the service needs no new setting.

A bias is a threshold: a larger one always raises recall, which is half of the selection score, so
read the per-set IoU and the person-free area beside the score before folding one in (the model card
says which was shipped and why).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.pipeline import PEOPLE, output_of
from model.segmenter import Segmenter
from training import data as datalib
from training.evaluate import evaluate, evaluation_pairs
from training.selection import selection_score

LOGITS_LAYERS = {"subject": "logits", "everyone": "logits_everyone"}  # training.deeplab names them so
DEFAULT_BIASES = (-0.5, 0.0, 0.5, 1.0, 1.5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m training.calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path, help="the saved serving model (training.export or soup)")
    parser.add_argument("--run", required=True, type=Path, help="run folder whose manifest holds the validation split")
    parser.add_argument("--data", nargs="+", metavar="ROOT", default=None,
                        help="score every pair of these roots too (an everyone-labelled set such as group-val "
                             "for --people all: the run's own sets label the subject)")
    parser.add_argument("--sets", nargs="+", default=None, metavar="NAME",
                        help="only the pairs of these sets, by the root's folder name (e.g. group-val camvid)")
    parser.add_argument("--biases", nargs="+", type=float, default=list(DEFAULT_BIASES),
                        help=f"logit shifts to try (default: {' '.join(map(str, DEFAULT_BIASES))})")
    parser.add_argument("--size", type=int, default=None, help="input side for a model without a fixed one")
    parser.add_argument("--out", type=Path, default=None, help="write the model with a bias folded in to this .keras file")
    parser.add_argument("--bias", type=float, default=None, help="with --out: the bias to fold in (default: the best-scoring)")
    parser.add_argument("--people", choices=("subject", "all"), default=PEOPLE[0],
                        help="the output to shift and score: subject, or everyone's (all)")
    return parser.parse_args(argv)


def logits_layer(segmenter: Segmenter, people: str = PEOPLE[0]):
    """The last convolution of the output that `people` reads (a one-output network's only one)."""
    names = [layer.name for layer in segmenter.network.layers]
    name = LOGITS_LAYERS[output_of(people)]
    return segmenter.network.get_layer(name if name in names else LOGITS_LAYERS["subject"])


def shift_logits(segmenter: Segmenter, original, bias: float, people: str = PEOPLE[0]) -> None:
    """Set the output's bias to `original + bias` (the traced forward pass reads it at each call)."""
    logits_layer(segmenter, people).bias.assign(original + bias)


def calibrate(segmenter: Segmenter, pairs: list[datalib.Pair], biases: list[float],
              people: str = PEOPLE[0]) -> list[tuple[float, float, dict]]:
    """(bias, selection score, per-set summary) for every bias of the output `people` reads, the photos
    served with refinement. Leaves the network as it was."""
    original = logits_layer(segmenter, people).bias.numpy().copy()
    results = []
    for bias in biases:
        shift_logits(segmenter, original, bias, people)
        _, summary, _ = evaluate(segmenter, pairs, refine=True, people=people)
        results.append((bias, selection_score(summary), summary))
    shift_logits(segmenter, original, 0.0, people)
    return results


def format_results(results: list[tuple[float, float, dict]]) -> str:
    """One Markdown row per bias: the score, then mean IoU / recall / missed photos per set with a person."""
    names = [name for name, figures in results[0][2].items() if name != "overall" and figures["person_photos"]]
    lines = ["| bias | score | " + " | ".join(f"{name} IoU / recall / missed" for name in names) + " | person-free area |",
             "|---:|---:|" + "---:|" * len(names) + "---:|"]
    for bias, score, summary in results:
        cells = [f"{summary[n]['mean_iou']:.4f} / {summary[n]['recall']:.3f} / {summary[n]['missed']}" for n in names]
        free = summary["overall"]["free_area"]
        lines.append(f"| {bias:+.2f} | {score:.4f} | " + " | ".join(cells) + f" | {free:.2%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m training.calibrate`."""
    args = parse_args(argv)
    segmenter = Segmenter.load(args.model, args.size, fast=False)  # the network's bias is shifted in place
    try:
        # training.evaluate's choice of pairs, always on the validation split: a bias is a setting to choose
        pairs = evaluation_pairs(args.run, "val", args.data, args.sets)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not pairs:
        print(f"error: the validation split of {args.run} is empty", file=sys.stderr)
        return 2
    results = calibrate(segmenter, pairs, args.biases, args.people)
    best = max(results, key=lambda result: result[1])
    print(f"model {args.model}, validation split of {args.run}{' and ' + ' '.join(args.data) if args.data else ''} "
          f"({len(pairs)} photos), served at "
          f"{segmenter.size}x{segmenter.size} with edge refinement, people={args.people}")
    print(format_results(results))
    print(f"best-scoring bias {best[0]:+.2f} (selection score {best[1]:.4f})")
    if args.out is not None:
        bias = best[0] if args.bias is None else args.bias
        shift_logits(segmenter, logits_layer(segmenter, args.people).bias.numpy().copy(), bias, args.people)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        segmenter.network.save(args.out)
        print(f"wrote {args.out}: {args.model} with its output bias shifted by {bias:+.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
