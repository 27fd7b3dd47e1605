"""Train DeepLabV3+ on folders of photos and masks: `python -m training.train --data ROOT[:WEIGHT] ... --out RUN_DIR`.

Runs on Keras' TensorFlow backend, or with KERAS_BACKEND=jax on a host that has JAX and no TensorFlow,
such as a GPU host; either way the batches come from worker processes (`training.batches`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import sys
from pathlib import Path

import keras
import numpy as np

from training import agreement as agreementlib
from training import data as datalib
from training.batches import WorkerBatches, make_job
from training.callbacks import CurvePlot, Throughput, TimeBudget, plot_curves, read_log
from training.config import (ENCODERS, MOBILENET_BLOCKS, AugmentConfig, DataConfig, DataRoot, ModelConfig, RunConfig,
                             TrainConfig)
from training.deeplab import build_deeplabv3plus, grow, grows_from
from training.metrics import LOSSES, keras_metrics
from training.targets import bystanders

log = logging.getLogger("training.train")

CONFIG_FILE = "config.json"
MANIFEST_FILE = "manifest.json"
LOG_FILE = "log.csv"
CURVES_FILE = "curves.png"
BEST_FILE = "best.keras"
LAST_FILE = "last.keras"
BACKUP_DIR = "backup"
EPOCHS_DIR = "epochs"  # with --keep-epochs: every epoch's model, to choose or average checkpoints
CACHE_SCALE = 1.5  # pairs are kept in memory with their long side at 1.5x the training size


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults are those of the shipped model."""
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    parser.add_argument("--data", nargs="+", metavar="ROOT[:WEIGHT][:LABELS]",
                        help="data roots (<root>/images + <root>/masks) with optional sampling weights and what "
                             "their masks mark: subject, everyone or both (default: the set's own for the sets of "
                             "../shared/data, both for any other root; docs/TRAINING.md)")
    parser.add_argument("--out", required=True, type=Path, help="run folder (config, manifest, logs, models)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    parser.add_argument("--encoder", choices=ENCODERS, default="mobilenetv2")
    parser.add_argument("--encoder-weights", default="none",
                        help="'none', 'imagenet' (needs internet) or a Keras weights file")
    parser.add_argument("--head-filters", type=int, default=128, help="ASPP and decoder width")
    parser.add_argument("--mobilenet-blocks", type=int, choices=MOBILENET_BLOCKS, default=ModelConfig.mobilenet_blocks,
                        help="how much of MobileNetV2: 13 (cut at block 13) or 16 (blocks 13-16 too, dilated, as a "
                             "context branch into the ASPP; from an --init-from model without them they start from "
                             "--encoder-weights and add nothing until they learn)")
    parser.add_argument("--outputs", type=int, choices=(1, 2), default=ModelConfig.outputs,
                        help="2: the subject (the people the photo is about) and everyone (every person), each "
                             "learning from the roots whose labels say it (ROOT:WEIGHT:subject|everyone|both); "
                             "1: one person probability")
    parser.add_argument("--image-size", type=int, default=256, help="training crop side (multiple of 16)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=None, help="default 30")
    parser.add_argument("--steps-per-epoch", type=int, default=0, help="0: one pass over the training pairs")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--patience", type=int, default=8, help="early stopping on validation IoU")
    parser.add_argument("--paste-probability", type=float, default=DataConfig.paste_probability,
                        help="share of samples whose person is pasted onto a person-free photo")
    parser.add_argument("--photo-scale", type=float, nargs=2, default=DataConfig.photo_scale,
                        metavar=("MIN", "MAX"), help="size range of unpasted photos, relative to fitting the frame "
                                                     "(above 1 zooms in: close-ups such as portraits)")
    parser.add_argument("--paste-scale", type=float, nargs=2, default=DataConfig.paste_scale,
                        metavar=("MIN", "MAX"), help="size range of pasted people, relative to fitting the frame "
                                                     "(smaller: people in wide shots)")
    parser.add_argument("--grey-probability", type=float, default=DataConfig.grey_probability,
                        help="share of training samples turned black-and-white")
    parser.add_argument("--group-probability", type=float, default=DataConfig.group_probability,
                        help="share of samples into which up to three further people of the data are pasted "
                             "(groups, overlapping people, people at several scales)")
    parser.add_argument("--action-probability", type=float, default=DataConfig.action_probability,
                        help="share of pasted people turned up to 180 degrees (upside down, lying, mid-air), "
                             "half of them blurred in motion, colour and label alike")
    parser.add_argument("--audience-probability", type=float, default=DataConfig.audience_probability,
                        help="share of samples whose person stands in front of an audience of other people "
                             "(at most 30%% of the frame tall, out of focus), who stay background")
    parser.add_argument("--object-probability", type=float, default=DataConfig.object_probability,
                        help="share of samples with a thing cut out of a person-free photo or a painted flag "
                             "standing beside or behind the person, which stays background")
    parser.add_argument("--quarter-turn-probability", type=float, default=DataConfig.quarter_turn_probability,
                        help="share of samples turned a quarter whole, photo, people and labels alike: people "
                             "lying across the frame in their own scene (default 0: upright)")
    parser.add_argument("--everyone-band", type=float, default=DataConfig.everyone_band, metavar="SHARE",
                        help="with two outputs: around the people of a subject-labelled photo, a ring this share "
                             "of the diagonal wide is background for everyone too (default 0: everyone learns "
                             "only the label's people there)")
    parser.add_argument("--min-agreement", type=float, default=DataConfig.min_agreement, metavar="IOU",
                        help="leave out training pairs of teacher-labelled roots (with agreement.csv, "
                             "training.teach) whose label the teachers that made it agree on less than this "
                             "(mean pairwise IoU); validation and test pairs all stay")
    parser.add_argument("--init-from", default="", metavar="MODEL.keras",
                        help="start from the weights of a saved model of the same architecture (fine-tuning)")
    parser.add_argument("--train-only", nargs="+", default=[], metavar="LAYER",
                        help="only these layers learn, every other keeps its weights (e.g. logits_everyone: "
                             "everyone's readout, the subject output unchanged)")
    parser.add_argument("--loss", choices=sorted(LOSSES), default=TrainConfig.loss,
                        help="bce-person-dice: Dice only on images that hold a person (person-free images "
                             "learn from the cross-entropy); bce-dice: Dice on every image")
    parser.add_argument("--no-augment", action="store_true", help="letterbox only, no augmentation")
    parser.add_argument("--no-group-balance", action="store_true",
                        help="draw every pair of a root equally often, instead of every video sequence "
                             "(ids <sequence>_<frame>) as often as one photo")
    parser.add_argument("--keep-epochs", action="store_true",
                        help=f"also keep every epoch's model as {EPOCHS_DIR}/eNN.keras "
                             "(to choose or average checkpoints; --resume goes on keeping them where the run did)")
    parser.add_argument("--time-budget", type=float, default=None, metavar="MINUTES",
                        help="stop cleanly between epochs before this many minutes have passed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                        help="Keras progress output (default: bar on a terminal, a line per epoch otherwise)")
    args = parser.parse_args(argv)
    if not args.resume and not args.data:
        parser.error("--data is required unless --resume")
    for option in ("photo_scale", "paste_scale"):
        low, high = getattr(args, option)
        if not 0 < low <= high:
            parser.error(f"--{option.replace('_', '-')} needs 0 < MIN <= MAX, got {low:g} {high:g}")
    return args


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The frozen run configuration the options describe."""
    return RunConfig(
        data=DataConfig(
            roots=tuple(DataRoot.parse(text) for text in args.data),
            image_size=args.image_size,
            paste_probability=args.paste_probability,
            photo_scale=tuple(args.photo_scale),
            paste_scale=tuple(args.paste_scale),
            grey_probability=args.grey_probability,
            group_probability=args.group_probability,
            action_probability=args.action_probability,
            audience_probability=args.audience_probability,
            object_probability=args.object_probability,
            quarter_turn_probability=args.quarter_turn_probability,
            everyone_band=args.everyone_band,
            augment=not args.no_augment,
            balance_groups=not args.no_group_balance,
            min_agreement=args.min_agreement,
        ),
        model=ModelConfig(encoder=args.encoder, encoder_weights=args.encoder_weights,
                          head_filters=args.head_filters, outputs=args.outputs,
                          mobilenet_blocks=args.mobilenet_blocks),
        train=TrainConfig(
            batch_size=args.batch_size,
            epochs=args.epochs or 30,
            steps_per_epoch=args.steps_per_epoch,
            learning_rate=args.learning_rate,
            patience=args.patience,
            time_budget_minutes=args.time_budget or 0.0,
            seed=args.seed,
            init_from=args.init_from,
            train_only=tuple(args.train_only),
            loss=args.loss,
        ),
    )


def prepare_run(args: argparse.Namespace) -> RunConfig:
    """Create the run folder with its config and manifest, or reopen it for --resume."""
    run_dir: Path = args.out
    config_path = run_dir / CONFIG_FILE
    if args.resume:
        if not config_path.is_file():
            raise SystemExit(f"--resume: no {CONFIG_FILE} in {run_dir}; start the run without --resume")
        config = RunConfig.load(config_path)
        overrides = {"epochs": args.epochs, "time_budget_minutes": args.time_budget}
        train = {**vars(config.train), **{k: v for k, v in overrides.items() if v is not None}}
        config = RunConfig(config.data, config.model, TrainConfig(**train))
    else:
        if args.init_from and not Path(args.init_from).is_file():
            raise FileNotFoundError(f"--init-from {args.init_from}: no such model file")
        if (run_dir / BACKUP_DIR).exists():
            raise SystemExit(f"{run_dir} already holds a run: pass --resume, or choose another --out")
        config = config_from_args(args)
        run_dir.mkdir(parents=True, exist_ok=True)
        manifest = datalib.make_manifest([root.path for root in config.data.roots], config.data.val_fraction,
                                         config.data.test_fraction, config.train.seed)
        datalib.save_manifest(manifest, run_dir / MANIFEST_FILE)
    config.save(config_path)
    return config


def load_samples(config: RunConfig, manifest: dict[str, list[datalib.Pair]]):
    """Decode the training and validation pairs into memory at training size."""
    max_side = round(config.data.image_size * CACHE_SCALE)
    train_pairs = agreementlib.trusted(manifest["train"], config.data.min_agreement)
    train = datalib.read_pairs(train_pairs, max_side, soft=True)  # soft labels are learned as they are
    val = datalib.read_pairs(manifest["val"], max_side)
    labels = {root.path: root.labels for root in config.data.roots}
    for sample in train + val:
        sample.labels = labels.get(sample.pair.root, "both")
    if config.model.outputs == 2:
        _find_bystanders(config, train)
    by_root = [(root.weight, [s for s in train if s.pair.root == root.path]) for root in config.data.roots]
    person_free = sum(not s.mask.any() for s in train)
    log.info("decoded %d training pairs (%d person-free, also used as paste backgrounds) and %d validation pairs",
             len(train), person_free, len(val))
    return by_root, val


def _find_bystanders(config: RunConfig, train: list[datalib.Sample]) -> None:
    """Give the training samples of the roots with every-person masks their bystanders (`Sample.bystanders`)."""
    folders = {root.path: root.everyone_masks for root in config.data.roots if root.everyone_masks}
    found = 0
    for sample in train:
        folder = folders.get(sample.pair.root)
        everyone = datalib.read_everyone(sample, folder) if folder else None
        if everyone is not None:
            sample.bystanders = bystanders(sample.mask, everyone)
            found += 1
    if folders:
        log.info("%d training pairs know every person of their photo (%s)", found,
                 ", ".join(f"{root}/{folder}" for root, folder in folders.items()))


def build_model(config: RunConfig, total_steps: int) -> keras.Model:
    """The network, compiled with Adam (warm-up then cosine decay), the configured loss, IoU/precision/recall."""
    model = build_deeplabv3plus(config.model, None)
    if config.train.init_from:
        _start_from(model, config.train.init_from)
    if config.train.train_only:
        _train_only(model, config.train.train_only)
    warmup = max(1, min(total_steps // 2, round(total_steps / config.train.epochs * config.train.warmup_epochs)))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.train.learning_rate * 0.01,
        decay_steps=max(1, total_steps - warmup),
        alpha=0.01,
        warmup_target=config.train.learning_rate,
        warmup_steps=warmup,
    )
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=LOSSES[config.train.loss],
                  metrics=keras_metrics(config.model.outputs))
    return model


def _train_only(model: keras.Model, names: tuple[str, ...]) -> None:
    """Freeze every layer but `names` (before compiling: Keras reads `trainable` then)."""
    unknown = set(names) - {layer.name for layer in model.layers}
    if unknown:
        raise SystemExit(f"--train-only: no layer named {', '.join(sorted(unknown))} in this network")
    for layer in model.layers:
        layer.trainable = layer.name in names
    log.info("only %s learn (%d weights)", ", ".join(names), sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def _start_from(model: keras.Model, path: str) -> None:
    """Load the weights of a saved model of this architecture; one of the other number of outputs (a
    one-output model for a two-output network), or one without MobileNetV2's deep blocks for a network with
    them, gives every layer it shares (`training.deeplab.grow`) and the rest start as built."""
    mismatch = SystemExit(f"--init-from {path}: not a model of this architecture (same --encoder and "
                          "--head-filters needed, and --mobilenet-blocks at least the model's)")
    source = keras.saving.load_model(path, compile=False)
    if grows_from(model, source):
        try:
            fresh = grow(model, source)
        except ValueError as error:
            raise SystemExit(f"{mismatch}: {error}") from error
        log.info("started from the weights of %s (%d outputs); as built: %s", path, source.output.shape[-1],
                 ", ".join(fresh) or "none")
        return
    # Keras reads the weights out of a .keras archive and checks every layer's shape against this model.
    try:
        model.load_weights(path)
    except (OSError, ValueError) as error:
        raise SystemExit(f"{mismatch}: {error}") from error
    log.info("started from the weights of %s", path)


def _callbacks(config: RunConfig, run_dir: Path, images_per_step: int,
               keep_epochs: bool = False) -> list[keras.callbacks.Callback]:
    best_so_far = max((row.get("val_iou", -1.0) for row in read_log(run_dir / LOG_FILE)), default=None)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(run_dir / BACKUP_DIR), delete_checkpoint=False),
        Throughput(images_per_step),
        keras.callbacks.CSVLogger(str(run_dir / LOG_FILE), append=True),
        CurvePlot(run_dir / LOG_FILE, run_dir / CURVES_FILE),
        keras.callbacks.ModelCheckpoint(str(run_dir / LAST_FILE)),
        keras.callbacks.ModelCheckpoint(str(run_dir / BEST_FILE), monitor="val_iou", mode="max",
                                        save_best_only=True, initial_value_threshold=best_so_far),
        keras.callbacks.EarlyStopping(monitor="val_iou", mode="max", patience=config.train.patience),
    ]
    if keep_epochs:
        (run_dir / EPOCHS_DIR).mkdir(exist_ok=True)
        callbacks.append(keras.callbacks.ModelCheckpoint(str(run_dir / EPOCHS_DIR / "e{epoch:02d}.keras")))
    if config.train.time_budget_minutes > 0:
        callbacks.append(TimeBudget(config.train.time_budget_minutes))
    return callbacks


def _tensorflow_backend() -> bool:
    return keras.backend.backend() == "tensorflow"


def _device_scope() -> contextlib.AbstractContextManager:
    """Mixed precision on any GPU, mirrored over several GPUs under TensorFlow; the CPU path is unchanged."""
    if not _tensorflow_backend():  # JAX (a GPU host without TensorFlow): one device, bfloat16 on a GPU
        import jax

        if jax.default_backend() == "gpu":
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
        return contextlib.nullcontext()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
    return (tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()).scope()


@contextlib.contextmanager
def _input_pipeline(config: RunConfig, by_root: list[tuple[float, list[datalib.Sample]]],
                    val: list[datalib.Sample]):
    """(endless augmented training batches from worker processes, letterboxed validation arrays)."""
    job = make_job(by_root, AugmentConfig.of(config.data), config.train.batch_size, config.train.seed,
                   config.data.balance_groups, config.model.outputs)
    with WorkerBatches(job) as workers:
        yield iter(workers), datalib.letterboxed_arrays(val, config.data.image_size, config.model.outputs)


def train(config: RunConfig, run_dir: Path, verbose: int = 2, keep_epochs: bool = False) -> Path:
    """Run (or continue) training; returns the path of the best model."""
    keras.utils.set_random_seed(config.train.seed)
    manifest = datalib.load_manifest(run_dir / MANIFEST_FILE)
    by_root, val = load_samples(config, manifest)
    if not val:
        raise SystemExit("the validation split is empty: add pairs or raise the validation fraction")
    batch = config.train.batch_size
    weighted = sum(len(samples) for weight, samples in by_root if weight > 0)
    steps = config.train.steps_per_epoch or max(1, math.ceil(weighted / batch))
    # The pipeline starts first: its worker processes (non-TensorFlow backends) fork before any accelerator does.
    with _input_pipeline(config, by_root, val) as (train_data, val_data):
        with _device_scope():
            model = build_model(config, steps * config.train.epochs)
        model.fit(train_data, validation_data=val_data, epochs=config.train.epochs, steps_per_epoch=steps,
                  validation_batch_size=batch, callbacks=_callbacks(config, run_dir, batch, keep_epochs),
                  verbose=verbose, shuffle=False)  # the pipelines shuffle already
    plot_curves(run_dir / LOG_FILE, run_dir / CURVES_FILE)
    return run_dir / BEST_FILE


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m training.train`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        config = prepare_run(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    verbose = args.verbose if args.verbose is not None else (1 if sys.stdout.isatty() else 2)
    # A resumed run goes on as it started: it is easy to forget the flag on --resume and lose epochs.
    keep_epochs = args.keep_epochs or (args.resume and (args.out / EPOCHS_DIR).is_dir())
    best = train(config, args.out, verbose, keep_epochs)
    rows = read_log(args.out / LOG_FILE)
    if rows:
        top = max(rows, key=lambda row: row.get("val_iou", -1.0))
        speed = np.median([row["images_per_s"] for row in rows if "images_per_s" in row] or [float("nan")])
        print(f"best validation IoU {top.get('val_iou', float('nan')):.4f} at epoch {int(top['epoch']) + 1}; "
              f"median training speed {speed:.1f} images/s; best model: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
