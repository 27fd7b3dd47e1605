"""Keras callbacks the trainer adds to Keras' own: time budget, throughput, training curves."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import keras


class TimeBudget(keras.callbacks.Callback):
    """Stop between epochs when the next epoch would end past the budget."""

    def __init__(self, minutes: float):
        super().__init__()
        self.seconds = minutes * 60.0
        self.start = time.monotonic()
        self.epoch_start = self.start

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        if now + (now - self.epoch_start) > self.start + self.seconds:
            print(f"time budget of {self.seconds / 60:.1f} min reached after epoch {epoch + 1}: stopping")
            self.model.stop_training = True


class Throughput(keras.callbacks.Callback):
    """Add training images/s and the learning rate to each epoch's logs (and so to the CSV log)."""

    def __init__(self, images_per_step: int):
        super().__init__()
        self.images_per_step = images_per_step
        self.steps = 0
        self.start = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.steps, self.start = 0, time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            seconds = time.monotonic() - self.start
            logs["images_per_s"] = self.steps * self.images_per_step / max(seconds, 1e-9)
            logs["epoch_seconds"] = seconds
            optimizer = self.model.optimizer
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class CurvePlot(keras.callbacks.Callback):
    """Redraw loss and IoU per epoch, train against validation, from the CSV log after every epoch."""

    def __init__(self, csv_path: Path, png_path: Path):
        super().__init__()
        self.csv_path, self.png_path = csv_path, png_path

    def on_epoch_end(self, epoch, logs=None):
        plot_curves(self.csv_path, self.png_path)


def read_log(csv_path: Path) -> list[dict[str, float]]:
    """Rows of a CSVLogger file as floats."""
    if not csv_path.is_file():
        return []
    with csv_path.open() as handle:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]


def plot_curves(csv_path: Path, png_path: Path) -> None:
    """Loss and IoU per epoch, train against validation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(csv_path)
    if not rows:
        return
    epochs = [row["epoch"] + 1 for row in rows]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for axis, metric in zip(axes, ("loss", "iou")):
        for prefix, style in (("", "-o"), ("val_", "-s")):
            values = [row.get(prefix + metric, float("nan")) for row in rows]
            axis.plot(epochs, values, style, markersize=3, label=("validation " if prefix else "train ") + metric)
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(png_path)
    plt.close(figure)
