"""Augmented training batches made by worker processes: the one input pipeline of training, on every backend.

Every batch is drawn and augmented (`training.augment`) in a pool of forked processes, which share
the decoded samples with the parent copy-on-write; a bounded number of batches is in flight, so
memory stays flat. Batch `i` depends only on the seed and `i`, not on the number of workers.

Why this pool and not `keras.utils.PyDataset(workers=..., use_multiprocessing=True)`: both fork
workers that call `make_batch`, but on the 2-core development machine the pool trained faster
(figures in docs/PERFORMANCE.md, "Training input"), and it is the pool that is started before the
network touches an accelerator, which a fork needs (PyDataset starts its workers inside `fit`).
"""

from __future__ import annotations

import collections
import dataclasses
import multiprocessing
import os
from collections.abc import Iterator

import cv2
import numpy as np

from training import augment
from training.config import AugmentConfig
from training.data import Sample, drawable_roots, group_weights
from training.targets import two_outputs

BATCHES_AHEAD_PER_WORKER = 2
MASK_LEVELS = 255  # masks travel as uint8 levels 0..255: soft labels keep their levels


@dataclasses.dataclass(frozen=True)
class _Pool:
    """What a batch is drawn from: per root its samples and drawing probabilities, and the roots' shares."""

    samples: list[list[Sample]]
    within: list[np.ndarray]
    shares: np.ndarray

    @classmethod
    def of(cls, by_root: list[tuple[float, list[Sample]]], balance_groups: bool) -> "_Pool":
        within = [group_weights(samples) if balance_groups else np.full(len(samples), 1.0 / len(samples))
                  for _, samples in by_root]
        shares = np.array([weight for weight, _ in by_root], np.float64)
        return cls([samples for _, samples in by_root], within, shares / shares.sum())

    def draw(self, rng: np.random.Generator) -> Sample:
        root = rng.choice(len(self.samples), p=self.shares)
        return self.samples[root][rng.choice(len(self.samples[root]), p=self.within[root])]


@dataclasses.dataclass(frozen=True)
class _Job:
    pairs: _Pool
    backgrounds: _Pool | None
    people: _Pool | None  # the further people pasted into group scenes
    config: AugmentConfig
    batch_size: int
    seed: int
    outputs: int = 1  # 2: each mask is the (size, size, 4) truth of a two-output network (training.targets)


_JOB: _Job | None = None  # set in the parent before the fork; the workers read their copy


def _start_worker() -> None:
    # One process per core already: OpenCV's own threads would only compete (and a thread pool the
    # parent started does not carry over into a forked child).
    cv2.setNumThreads(0)


def make_batch(job: _Job, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Batch `index`: images (B, size, size, 3) uint8 and masks (B, size, size, 1) uint8 0..MASK_LEVELS, or
    (B, size, size, 4) for a two-output network: each output's truth and where it is known."""
    rng = np.random.default_rng([job.seed, index])
    images, masks = [], []
    for _ in range(job.batch_size):
        sample = job.pairs.draw(rng)
        background = job.backgrounds.draw(rng).image if job.backgrounds is not None else None
        others = [job.people.draw(rng) for _ in range(job.config.group_size)] if job.people is not None else []
        made = augment.composed_sample(sample.image, sample.target(), background, job.config, rng,
                                       [(other.image, other.target()) for other in others], sample.bystanders)
        image, mask = made.rgb, made.label
        if job.outputs == 2:
            mask = two_outputs(made.label[..., 0], made.audience[..., 0], sample.labels, made.everyone_labelled,
                               job.config.everyone_band)
        images.append(np.rint(image).astype(np.uint8))
        masks.append(np.rint(mask * MASK_LEVELS).astype(np.uint8))
    return np.stack(images), np.stack(masks)


def _batch(index: int) -> tuple[np.ndarray, np.ndarray]:
    assert _JOB is not None, "worker started without a job"
    return make_batch(_JOB, index)


def make_job(by_root: list[tuple[float, list[Sample]]], config: AugmentConfig, batch_size: int, seed: int,
             balance_groups: bool = True, outputs: int = 1) -> _Job:
    """What to draw: each root with its weight; the person-free samples are also the paste backgrounds and
    what the things beside people are cut from, and the samples with a person also the further people of
    group scenes; `outputs`: the network's."""
    pairs, free, people = drawable_roots(by_root)
    uses_free = config.paste_probability > 0 or config.object_probability > 0
    backgrounds = _Pool.of(free, balance_groups) if free and uses_free else None
    group = _Pool.of(people, balance_groups) if people and config.group_probability > 0 else None
    return _Job(_Pool.of(pairs, balance_groups), backgrounds, group, config, batch_size, seed, outputs)


class WorkerBatches:
    """Endless batches from a process pool: images uint8 0..255, masks float32 0..1 (soft where the labels
    are); use as a context manager.

    Between the processes both travel as uint8, a quarter of float32's bytes; the masks become float
    in this process, as the losses take them (validation's hard 0/1 masks take the same meaning). The
    network takes any numeric input (its first layer works in float).

    Start it before the network touches an accelerator: the workers are forked, and a fork after
    JAX or CUDA has started threads is unsafe.
    """

    def __init__(self, job: _Job, workers: int | None = None):
        self.job = job
        self.workers = workers or max(1, (os.cpu_count() or 2) - 1)
        self._pool = None

    def __enter__(self) -> "WorkerBatches":
        global _JOB
        _JOB = self.job
        self._pool = multiprocessing.get_context("fork").Pool(self.workers, initializer=_start_worker)
        return self

    def __exit__(self, *exc) -> None:
        global _JOB
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        _JOB = None

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if self._pool is None:
            raise RuntimeError("WorkerBatches must be entered (with ...) before iterating")
        ahead = self.workers * BATCHES_AHEAD_PER_WORKER
        pending = collections.deque(self._pool.apply_async(_batch, (i,)) for i in range(ahead))
        index = ahead
        while True:
            images, masks = pending.popleft().get()
            pending.append(self._pool.apply_async(_batch, (index,)))
            index += 1
            yield images, masks.astype(np.float32) / MASK_LEVELS
