"""The batch command on Ray Data: `python -m model INPUT... -o OUTDIR --engine ray [--ray-address ADDRESS]`.

The same photos, options and outputs as the local engine, as one Ray Data job: the photos are listed
here, read, decoded and fitted to the network's canvases in CPU tasks, run through the network in a
pool of actors that each load the model once (on a GPU when asked or when the cluster has one), then
refined, composed, encoded and written in CPU tasks. Inputs and the output folder are local paths or
any URI that pyarrow's filesystems open (`s3://bucket/prefix` where credentials are set). A photo that
fails is one row of the report, and the job goes on. Only the batch command imports this module (and Ray).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

import numpy as np
import ray
from pyarrow import fs as pafs

from model import SHIPPED_MODEL, litert
from model.decode import ImageError, decode
from model.letterbox import Placement, canvas_shapes, fit, unletterbox
from model.pipeline import CutoutOptions, output_bytes
from model.segmenter import Segmenter, serving_size

MODEL_PACKAGE = Path(__file__).resolve().parent
OBJECT_STORES = ("s3", "gs", "gcs")  # pyarrow's paths there start with the bucket


@dataclasses.dataclass(frozen=True)
class RayJob:
    """What the job does, and with how much of the cluster."""

    model: Path = SHIPPED_MODEL
    options: CutoutOptions = CutoutOptions()
    batch_size: int = 8  # photos per forward pass in an actor
    workers: int | None = None  # model actors; None: one per GPU of the cluster, else one per 2 CPUs
    gpus_per_worker: float | None = None  # None: 1 when the cluster has GPUs, else 0
    max_pixels: int = 100_000_000


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One photo's row of the report: where it was written, or why not."""

    source: str
    target: str = ""
    error: str = ""


def resolve(location: str) -> tuple[pafs.FileSystem, str]:
    """A filesystem and the path on it, for a local path (made absolute: workers have other working
    folders) or a URI such as s3://bucket/prefix, gs://bucket/prefix, hdfs://host:port/path."""
    if "://" not in location:
        return pafs.LocalFileSystem(), str(Path(location).resolve())
    scheme, rest = location.split("://", 1)
    root, _, key = rest.partition("/")
    path = f"{root}/{key}" if scheme in OBJECT_STORES else f"/{key}"
    return _filesystem_of(f"{scheme}://{root}" if root else f"{scheme}:///"), path


@functools.lru_cache(maxsize=16)
def _filesystem_of(root: str) -> pafs.FileSystem:
    """One filesystem object per scheme and bucket (or host) and process: an S3 client looks up its region once."""
    return pafs.FileSystem.from_uri(root)[0]


def _uri(location: str, path: str) -> str:
    """The location of `path` in the same form as the input it was found under."""
    return location.split("://", 1)[0] + "://" + path if "://" in location else path


def list_photos(inputs: list[str], suffixes: tuple[str, ...]) -> list[str]:
    """The files named, and the photos inside the folders named (sorted, not recursive), as the local
    engine lists them; a name that does not exist stays in the list, and fails there with its reason."""
    photos = []
    for location in inputs:
        filesystem, path = resolve(location)
        info = filesystem.get_file_info(path)
        if info.type == pafs.FileType.Directory:
            found = filesystem.get_file_info(pafs.FileSelector(path, recursive=False))
            photos += sorted(_uri(location, f.path) for f in found
                             if f.type == pafs.FileType.File and PurePosixPath(f.path).suffix.lower() in suffixes)
        else:
            photos.append(_uri(location, path))
    return photos


def read_bytes(location: str) -> bytes:
    """The bytes of one file, local or remote."""
    filesystem, path = resolve(location)
    with filesystem.open_input_file(path) as handle:
        return handle.readall()


def _prepare(batch: dict[str, np.ndarray], size: int, max_pixels: int) -> dict[str, np.ndarray]:
    """CPU task: read and decode each photo and fit it into its canvas for the network (`Segmenter.canvas`);
    a failure becomes the row's error."""
    shapes = canvas_shapes(size)
    canvases, placements, errors = [], [], []
    for source in batch["source"]:
        try:
            canvas, placement = fit(decode(read_bytes(source), max_pixels), shapes)
            error = ""
        except (ImageError, OSError) as failure:
            canvas, placement, error = np.zeros((size, size, 3), np.uint8), Placement(1, 1, 1, 1), str(failure)
        canvases.append(canvas)
        placements.append(dataclasses.astuple(placement))
        errors.append(error)
    return {"source": batch["source"], "canvas": _ragged(canvases), "placement": np.array(placements, np.int64),
            "error": np.array(errors, dtype=object)}


def _ragged(arrays: list[np.ndarray]) -> np.ndarray:
    """A column of arrays of different shapes (canvases at each photo's aspect): an object array of arrays,
    which Ray Data stores as a variable-shaped tensor column."""
    column = np.empty(len(arrays), dtype=object)
    for i, array in enumerate(arrays):  # element by element: numpy would stack arrays of one shape
        column[i] = array
    return column


def model_files(keras_path: Path) -> dict[str, bytes]:
    """The Keras file and, where they exist, its fast file and stamp, by the names the actor gives them."""
    names = {keras_path: "model.keras", litert.fast_path(keras_path): "model.tflite",
             litert.stamp_path(keras_path): "model.tflite.json"}
    return {name: path.read_bytes() for path, name in names.items() if path.is_file()}


class _Network:
    """Actor: loads the model once, then runs the network over batches of canvases."""

    def __init__(self, model_files: dict[str, bytes], output: str):
        # The model (and its fast LiteRT file, model.litert) travels as bytes, so that no node needs the
        # files at the driver's path.
        with tempfile.TemporaryDirectory() as folder:
            for name, content in model_files.items():
                (Path(folder) / name).write_bytes(content)
            self.segmenter = Segmenter.load(Path(folder) / "model.keras")
        self.output = output  # the network output the job's `people` option reads

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        placements = [Placement(*placement) for placement in batch["placement"]]
        probability = self.segmenter.look(list(batch["canvas"]), placements, self.output)
        return {"source": batch["source"], "placement": batch["placement"], "error": batch["error"],
                "probability": _ragged(probability)}


def _finish(batch: dict[str, np.ndarray], out: str, options: CutoutOptions, max_pixels: int) -> dict[str, np.ndarray]:
    """CPU task: decode each photo again at full size (cheaper than carrying the pixels through the object
    store), then upsample, refine, compose, encode and write it as the local engine does."""
    targets, errors = [], []
    filesystem, folder = resolve(out)
    for source, placement, error, probability in zip(batch["source"], batch["placement"], batch["error"],
                                                      batch["probability"]):
        target = ""
        if not error:
            try:
                rgb = decode(read_bytes(source), max_pixels)
                data = output_bytes(rgb, unletterbox(probability, Placement(*placement)), options)
                target = f"{folder}/{PurePosixPath(source).stem}.png"  # the local engine's names
                with filesystem.open_output_stream(target) as handle:
                    handle.write(data)
                target = _uri(out, target)
            except (ImageError, OSError) as failure:
                target, error = "", str(failure)
        targets.append(target)
        errors.append(error)
    return {"source": batch["source"], "target": np.array(targets, dtype=object),
            "error": np.array(errors, dtype=object)}


def _actors(job: RayJob) -> tuple[int, float]:
    """(model actors, GPUs per actor): as asked, else from the cluster's resources."""
    resources = ray.cluster_resources()
    gpus = resources.get("GPU", 0.0)
    per_actor = job.gpus_per_worker if job.gpus_per_worker is not None else (1.0 if gpus else 0.0)
    if job.workers:
        return job.workers, per_actor
    if per_actor:
        return max(1, int(gpus // per_actor)), per_actor
    return max(1, int(resources.get("CPU", 2) // 2)), 0.0


def run(photos: list[str], out: str, job: RayJob) -> list[Outcome]:
    """The Ray Data job over `photos` (local paths or URIs); every photo gets one Outcome."""
    if not photos:
        return []
    filesystem, folder = resolve(out)
    filesystem.create_dir(folder, recursive=True)
    size = serving_size(job.model)
    workers, gpus = _actors(job)
    dataset = ray.data.from_items([{"source": source} for source in photos])
    rows = (dataset
            .map_batches(_prepare, fn_kwargs={"size": size, "max_pixels": job.max_pixels},
                         batch_size=job.batch_size, batch_format="numpy")
            .map_batches(_Network, fn_constructor_args=(model_files(job.model), job.options.network_output),
                         batch_size=job.batch_size,
                         batch_format="numpy", concurrency=workers, num_gpus=gpus)
            .map_batches(_finish, fn_kwargs={"out": out, "options": job.options, "max_pixels": job.max_pixels},
                         batch_size=job.batch_size, batch_format="numpy")
            .take_all())
    return [Outcome(row["source"], row["target"] or "", row["error"] or "") for row in rows]


def connect(address: str | None) -> None:
    """Join the cluster at `address`, or start a local Ray; the project's `model` package travels with the job."""
    if ray.is_initialized():
        return
    ray.init(address=address or None, runtime_env={"py_modules": [str(MODEL_PACKAGE)]}, log_to_driver=False,
             include_dashboard=False, configure_logging=False)


def main(inputs: list[str], out: str, job: RayJob, address: str | None, suffixes: tuple[str, ...]) -> int:
    """Run the job and print its report: one line per failed photo, then a summary; returns the failures."""
    photos = list_photos(inputs, suffixes)
    if not photos:  # as the local engine: nothing to do is an error, before any cluster is joined
        raise ValueError("no photos found in the inputs given")
    connect(address)
    start = time.perf_counter()
    outcomes = run(photos, out, job)
    seconds = time.perf_counter() - start
    failed = [outcome for outcome in outcomes if outcome.error]
    for outcome in sorted(failed, key=lambda o: o.source):
        print(f"{outcome.source}: skipped: {outcome.error}", file=sys.stderr)
    done = len(outcomes) - len(failed)
    print(f"{done} written, {len(failed)} failed in {seconds:.1f} s ({done / max(seconds, 1e-9):.2f} photos/s, "
          f"Ray engine)", file=sys.stderr)
    return len(failed)
