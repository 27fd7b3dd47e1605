"""Average the weights of two trained models: `python -m training.soup A.keras B.keras --weight W --out SOUP.keras`.

A "model soup" (Wortsman et al., 2022): two fine-tunings of one starting point often lie in one basin
of the loss, and their weight average keeps what each learned. The shipped model is such an average
(model/MODEL_CARD.md). The result has A's architecture and no optimizer; `training.export RUN_DIR
--checkpoint SOUP.keras` turns it into a serving file like any checkpoint of the run. A one-output model
averages with a two-output one as the two-output network it starts (`training.deeplab.grow`: both
outputs its one), and a network without MobileNetV2's deep blocks with one grown from it
(`--mobilenet-blocks 16`) as the grown network it starts, whose deep branch adds nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import keras

from training.deeplab import grow, grows_from


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m training.soup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path, help="a saved .keras model")
    parser.add_argument("second", type=Path, help="a saved .keras model of the same architecture")
    parser.add_argument("--weight", type=float, default=0.5, help="share of the first model, 0..1 (default 0.5)")
    parser.add_argument("--out", required=True, type=Path, help="the .keras file to write")
    args = parser.parse_args(argv)
    if not 0.0 <= args.weight <= 1.0:
        parser.error(f"--weight must be within 0..1, got {args.weight}")
    return args


def soup(first: keras.Model, second: keras.Model, weight: float) -> keras.Model:
    """`first` with every weight replaced by weight * first + (1 - weight) * second; a second model of
    another number of outputs, or without MobileNetV2's deep blocks, first becomes one of `first`'s
    (`as_network_of`)."""
    second = as_network_of(first, second)
    ours, theirs = first.get_weights(), second.get_weights()
    shapes = [w.shape for w in ours], [w.shape for w in theirs]
    if shapes[0] != shapes[1]:
        raise ValueError("the two models have different architectures (weight shapes differ)")
    first.set_weights([weight * a + (1.0 - weight) * b for a, b in zip(ours, theirs)])
    return first


def as_network_of(first: keras.Model, second: keras.Model) -> keras.Model:
    """`second` as a network of `first`'s architecture where the two differ only as a network differs from the
    one it was grown from (`training.train --init-from`): a one-output model as the two-output network it
    starts (every output its one); a model without MobileNetV2's deep blocks as the grown network it starts,
    the deep blocks as `first` has them and their projection at zero, so the branch adds nothing and the
    average keeps `first`'s deep blocks with `weight` of their projection. Else `second` itself."""
    if first.output.shape[-1] < second.output.shape[-1]:
        raise ValueError("the first model has fewer outputs than the second: give the two-output model first")
    if not grows_from(first, second):
        return second
    twin = keras.models.clone_model(first)
    twin.set_weights(first.get_weights())
    try:
        grow(twin, second)
    except ValueError as error:
        raise ValueError(f"the two models have {error}") from error
    return twin


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m training.soup`."""
    args = parse_args(argv)
    try:
        # compile=False: the loss a training checkpoint names is not needed to read its weights.
        models = [keras.saving.load_model(path, compile=False) for path in (args.first, args.second)]
        averaged = soup(*models, args.weight)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    averaged.save(args.out)
    print(f"wrote {args.out}: {args.weight:g} x {args.first} + {1 - args.weight:g} x {args.second}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
