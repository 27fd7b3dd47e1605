"""The loaded network behind one interface: `Segmenter.predict(rgb, output) -> person probability`.

A network has one output (a person probability) or two (`OUTPUTS`: the subject, the people the photo is
about, and everyone, every person). `output` picks one; a one-output network answers both with its one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import sys
import threading
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from model import litert
from model.letterbox import Placement, canvas_shapes, fit, letterbox, unletterbox

log = logging.getLogger(__name__)

DEFAULT_SIZE = 320  # serving input side for a model saved without a fixed input size
# A second look at large people: where the first look marks more than SECOND_LOOK_SHARE of a photo, the
# network looks again at the photo scaled to SECOND_LOOK_SIZE and the two probabilities are averaged
# (chosen on the validation split: model/MODEL_CARD.md, "Second look at large people").
SECOND_LOOK_SIZE = 192
SECOND_LOOK_SHARE = 0.3
# A turn look at people lying across the frame, measured and not served (model/MODEL_CARD.md, "A turn look"):
# the network, trained mostly on people standing, finds almost nothing of a person turned a quarter (every
# photo action-test misses is one). Where the looks above mark less than TURN_LOOK_SHARE of a photo, the
# network looks again at the photo turned a quarter either way, and a turn is taken where it is sure of a
# person there (probability TURN_SURE or more on at least TURN_SURE_SHARE of the photo and on TURN_SURE_OF of
# what it marks) and surer than upright. It finds the lying people of action-val, but it also reads animals,
# mountains and glaciers turned sideways as people, so the service leaves it off (`turn_look`).
TURNS = (1, 3)  # quarter turns (numpy.rot90's k): anticlockwise, clockwise
TURN_LOOK_SHARE = 0.03
TURN_SURE, TURN_SURE_SHARE, TURN_SURE_OF = 0.9, 0.005, 0.4
OUTPUTS = ("subject", "everyone")  # a two-output network's channels, in order (training.deeplab)
SUBJECT, EVERYONE = OUTPUTS


def outputs_of(probabilities: np.ndarray) -> tuple[str, ...]:
    """What a network's (..., channels) probabilities tell apart: `OUTPUTS`, or ("person",) for one channel."""
    return OUTPUTS if probabilities.shape[-1] == len(OUTPUTS) else ("person",)


def channel(probabilities: np.ndarray, output: str) -> np.ndarray:
    """One output of the network's (..., channels) probabilities: `output`'s channel, or the only one."""
    index = OUTPUTS.index(output)
    return probabilities[..., min(index, probabilities.shape[-1] - 1)]


@dataclasses.dataclass(frozen=True)
class ModelId:
    """Which model answers: the served file's name and its SHA-256 (hex)."""

    file: str
    sha256: str

    @property
    def short(self) -> str:
        """The SHA-256's first 12 hex digits, enough to tell two files apart."""
        return self.sha256[:12]

    def __str__(self) -> str:
        return f"{self.file} sha256:{self.short}"

    @classmethod
    def of(cls, path: Path) -> "ModelId":
        """The identity of the model file at `path`."""
        return cls(Path(path).name, litert.fingerprint(path))


UNSAVED = ModelId("unsaved network", "")  # a Segmenter built around a network in memory, not from a file


class ModelLoadError(RuntimeError):
    """The model file is missing or unreadable; the message names the file and what to do."""


def check_model_file(path: Path) -> None:
    """Fail with one clear line unless `path` looks like a saved Keras model (cheap: no TensorFlow)."""
    hint = "restore it from git (git checkout -- model/), or point MODEL_PATH at a .keras file from training.export"
    if not path.is_file():
        raise ModelLoadError(f"model file {path} not found: {hint}")
    try:
        with zipfile.ZipFile(path) as archive:
            complete = {"config.json", "model.weights.h5"} <= set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        complete = False
    if not complete:
        raise ModelLoadError(f"model file {path} is not a Keras .keras archive (corrupt or truncated): {hint}")


def serving_size(path: Path) -> int:
    """The input side a saved model serves at, read from its archive without loading TensorFlow:
    its fixed input side, else DEFAULT_SIZE (as `Segmenter.load` chooses)."""
    return fixed_side(path) or DEFAULT_SIZE


def fixed_side(path: Path) -> int | None:
    """A saved model's fixed input side (its InputLayer's), or None, read from its archive's config."""
    check_model_file(path)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    for layer in config.get("config", {}).get("layers", []):
        if layer.get("class_name") == "InputLayer":
            shape = layer["config"].get("batch_shape") or [None, None]
            return shape[1]
    return None


def load_network(path: Path):
    """The Keras network of a saved model (TensorFlow is imported here, and only here, for serving)."""
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a damaged archive
        raise ModelLoadError(f"model file {path} could not be loaded ({type(error).__name__}: {error})") from error


def gpu_visible() -> bool:
    """Whether TensorFlow sees a GPU. Without an NVIDIA or ROCm device node there is none, and TensorFlow
    (800 MB and 4 s to import with the model) is not imported to say so."""
    if not (Path("/dev/nvidiactl").exists() or Path("/dev/kfd").exists() or "tensorflow" in sys.modules):
        return False
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


class Segmenter:
    """A person-segmentation network that takes RGB uint8 photos of any size."""

    def __init__(self, network, size: int, second_look: int | None = SECOND_LOOK_SIZE,
                 fast: litert.FastForward | None = None, loader: Callable[[], object] | None = None,
                 model_id: ModelId = UNSAVED, turn_look: bool = False):
        """`network` is the Keras network, or None with `loader` to load it on first use (where the fast
        file serves, the process then never imports TensorFlow unless something asks for the network);
        `model_id` names the file it came from; `turn_look`: look at the photo turned where nobody stands
        upright in it (`surest_turn`; off as served, on only to measure it)."""
        self._network, self._loader = None, loader
        self.model_id = model_id
        if network is not None:
            self._adopt(network)
        self.size = size
        self.second_look = second_look if second_look and second_look < size else None
        self.turn_look = turn_look
        self.shapes = canvas_shapes(size)  # the first look's canvases, each about size x size pixels
        self.device = "GPU" if gpu_visible() else "CPU"
        # One traced graph per canvas shape (made on first use, all of them by warm_up): no retracing, no
        # Keras call overhead per request. It takes uint8 and casts inside the graph: a quarter of the bytes
        # in, no float copy in numpy, and measured faster than a float32 signature (python -m bench.levers).
        self._graphs: dict[tuple[int, int], Callable[[np.ndarray], np.ndarray]] = {}
        # The LiteRT file's signatures where it holds the shape (model.litert): the same probabilities, faster.
        # On a GPU the traced graph runs there instead.
        self.fast = fast if self.device == "CPU" else None
        self._outputs: tuple[str, ...] | None = None

    @property
    def network(self):
        """The Keras network (loaded now if it was left for later)."""
        if self._network is None:
            self._adopt(self._loader())
        return self._network

    def _adopt(self, network) -> None:
        # A saved network's input is fixed at its serving square; its layers take any shape in multiples of
        # the output stride. Lifting the input check lets the same network, with the same weights, look at
        # every canvas shape and at the second look's smaller square.
        network.input_spec = None
        self._network = network

    @property
    def engine(self) -> str:
        """What runs the forward pass: "LiteRT (XNNPACK)" or "TensorFlow graph"."""
        return "LiteRT (XNNPACK)" if self.fast is not None else "TensorFlow graph"

    @classmethod
    def load(cls, path: str | Path, size: int | None = None,
             second_look: int | None = SECOND_LOOK_SIZE, fast: bool = True, turn_look: bool = False) -> "Segmenter":
        """Load a saved Keras model once; the serving size is its fixed input side, else `size`;
        `second_look` is the side of the second look at large people (None or 0: no second look);
        `fast`: run the forward pass on the model's LiteRT file where it is there and current (model.litert;
        False where the network's weights are to be changed, as training.calibrate does); `turn_look`: as
        the constructor's."""
        path = Path(path)
        segmenter = cls(None, fixed_side(path) or size or DEFAULT_SIZE, second_look,
                        loader=lambda: load_network(path), model_id=ModelId.of(path), turn_look=turn_look)
        if fast and segmenter.device == "CPU":
            segmenter.fast = litert.load(path, segmenter.looks, sha256=segmenter.model_id.sha256)
        if segmenter.fast is None:  # the Keras graph serves: load it now, so that a damaged file fails at start-up
            segmenter._adopt(load_network(path))
        log.info("loaded %s on the %s, forward pass by %s, canvases of about %dx%d at the photo's aspect, "
                 "second look at large people %s", path, segmenter.device, segmenter.engine, segmenter.size,
                 segmenter.size, f"at {segmenter.second_look}x{segmenter.second_look}" if segmenter.second_look else "off")
        return segmenter

    @property
    def looks(self) -> list[tuple[int, int]]:
        """Every input shape the network runs at: the first look's canvases, then the second look's square."""
        return self.shapes + ([(self.second_look, self.second_look)] if self.second_look else [])

    def warm_up(self) -> None:
        """Run the forward pass once at every input shape, so that no request pays for graph tracing (or,
        on LiteRT, for XNNPACK's first call)."""
        for height, width in self.looks:
            probabilities = self.forward_all(np.zeros((1, height, width, 3), dtype=np.uint8))
        self._outputs = outputs_of(probabilities)

    def forward(self, batch: np.ndarray, output: str = SUBJECT) -> np.ndarray:
        """The bare network on a batch of RGB uint8 canvases of one shape (N, H, W, 3); returns `output`'s
        probabilities (N, H, W) float32."""
        return channel(self.forward_all(batch), output)

    def forward_all(self, batch: np.ndarray) -> np.ndarray:
        """Every output of the network on a batch of canvases: (N, H, W, outputs) float32."""
        shape = batch.shape[1:3]
        if self.fast is not None and shape in self.fast.shapes:
            return self.fast(np.asarray(batch, dtype=np.uint8))
        return self.graph_forward(batch)

    def graph_forward(self, batch: np.ndarray) -> np.ndarray:
        """`forward_all` by TensorFlow's traced graph of the Keras network, whatever the fast file holds."""
        shape = batch.shape[1:3]
        if shape not in self._graphs:
            self._graphs[shape] = _traced(self.network, shape)
        return self._graphs[shape](batch)

    @property
    def outputs(self) -> tuple[str, ...]:
        """The outputs the network tells apart: `OUTPUTS`, or ("person",) for a one-output network (which
        answers every `output` with its one)."""
        if self._outputs is None:
            self._outputs = outputs_of(self.forward_all(np.zeros((1, *self.shapes[0], 3), np.uint8)))
        return self._outputs

    def canvas(self, rgb: np.ndarray) -> tuple[np.ndarray, Placement]:
        """The photo fitted, without stretching, into the canvas shape nearest its aspect."""
        return fit(rgb, self.shapes)

    def look(self, canvases: Sequence[np.ndarray], placements: Sequence[Placement],
             output: str = SUBJECT) -> list[np.ndarray]:
        """`output`'s probability on each canvas (H, W), with the second look at large people: where the first
        look marks more than SECOND_LOOK_SHARE of a photo, the mean of it and the network's probability on
        the photo's part of the canvas scaled to the second look's square. Canvases of one shape share a
        forward pass."""
        probabilities = [channel(p, output) for p in self._first_look(canvases)]
        if not self.second_look:
            return probabilities
        large = [i for i, placement in enumerate(placements)
                 if person_share(probabilities[i], placement) > SECOND_LOOK_SHARE]
        if not large:
            return probabilities
        smaller = [letterbox(photo_area(canvases[i], placements[i]), self.second_look) for i in large]
        seconds = self.forward(np.stack([canvas for canvas, _ in smaller]), output)
        for i, second, (_, placement) in zip(large, seconds, smaller):
            area = photo_area(probabilities[i], placements[i])
            area[...] = (area + unletterbox(second, placement)) / 2.0
        return probabilities

    def _first_look(self, canvases: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The network on every canvas (H, W, outputs), one forward pass per canvas shape, in the canvases' order."""
        probabilities: list[np.ndarray] = [np.empty(0, np.float32)] * len(canvases)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i, canvas in enumerate(canvases):
            by_shape.setdefault(canvas.shape[:2], []).append(i)
        for indices in by_shape.values():
            for i, probability in zip(indices, self.forward_all(np.stack([canvases[i] for i in indices]))):
                probabilities[i] = probability
        return probabilities

    def predict(self, rgb: np.ndarray, output: str = SUBJECT) -> np.ndarray:
        """`output`'s person probability (H, W) float32 in 0..1 for an RGB uint8 photo (H, W, 3)."""
        return self.predict_batch([rgb], output)[0]

    def predict_batch(self, photos: list[np.ndarray], output: str = SUBJECT) -> list[np.ndarray]:
        """`predict` for several photos of any sizes, with one forward pass per canvas shape among them."""
        if not photos:
            return []
        probabilities = self._looks(photos, output)
        if self.turn_look:
            self._turn_look(photos, probabilities, output)
        return probabilities

    def _looks(self, photos: Sequence[np.ndarray], output: str) -> list[np.ndarray]:
        """`output`'s probability (H, W) at each photo's resolution, by the first and second looks."""
        canvases, placements = zip(*(self.canvas(rgb) for rgb in photos))
        return [unletterbox(probability, placement)
                for probability, placement in zip(self.look(canvases, placements, output), placements)]

    def _turn_look(self, photos: Sequence[np.ndarray], probabilities: list[np.ndarray], output: str) -> None:
        """In place: where a photo's probability marks less than TURN_LOOK_SHARE of it, the probability of
        the photo turned a quarter either way (turned back) replaces it where `surest_turn` takes one."""
        lying = [i for i, probability in enumerate(probabilities) if np.mean(probability >= 0.5) < TURN_LOOK_SHARE]
        if not lying:
            return
        turned = self._looks([np.ascontiguousarray(np.rot90(photos[i], k)) for i in lying for k in TURNS], output)
        for n, i in enumerate(lying):
            turns = [np.rot90(turned[n * len(TURNS) + j], -k) for j, k in enumerate(TURNS)]
            best = surest_turn(probabilities[i], turns)
            if best is not None:
                probabilities[i] = np.ascontiguousarray(best)


def _traced(network, shape: tuple[int, int]) -> Callable[[np.ndarray], np.ndarray]:
    """The network as one traced graph for uint8 batches (N, height, width, 3), the cast to float inside;
    the function returns the probabilities (N, height, width, outputs) float32."""
    import tensorflow as tf

    graph = tf.function(lambda images: network(tf.cast(images, tf.float32), training=False),
                        input_signature=[tf.TensorSpec((None, *shape, 3), tf.uint8)])
    return lambda batch: graph(np.asarray(batch, dtype=np.uint8)).numpy()


def surest_turn(upright: np.ndarray, turns: Sequence[np.ndarray]) -> np.ndarray | None:
    """Of the turned looks' probabilities (each turned back, the photo's shape), the one the network is surest
    of a person in (the largest share at TURN_SURE or more), where that share is at least TURN_SURE_SHARE of
    the photo, at least TURN_SURE_OF of what the look marks (p >= 0.5), and more than upright's; else None."""
    best, best_sure = None, float(np.mean(upright >= TURN_SURE))
    for probability in turns:
        sure = float(np.mean(probability >= TURN_SURE))
        if sure >= TURN_SURE_SHARE and sure >= TURN_SURE_OF * float(np.mean(probability >= 0.5)) and sure > best_sure:
            best, best_sure = probability, sure
    return best


def photo_area(canvas: np.ndarray, placement: Placement) -> np.ndarray:
    """The part of a canvas (or of a prediction on it) that holds the photo: a view."""
    return canvas[: placement.scaled_height, : placement.scaled_width]


def person_share(probability: np.ndarray, placement: Placement) -> float:
    """The share of the photo's part of a canvas prediction that the network marks as person (p >= 0.5)."""
    return float(np.mean(photo_area(probability, placement) >= 0.5))


_loading = threading.Lock()  # two threads asking for a model at once load it once


def get_segmenter(path: str) -> Segmenter:
    """The process's one loaded copy of the model at `path` (loaded on first use, by one thread)."""
    with _loading:
        return _loaded(str(Path(path).resolve()))


@functools.lru_cache(maxsize=2)
def _loaded(path: str) -> Segmenter:
    return Segmenter.load(path)
