"""Run configuration: small frozen dataclasses, saved as config.json beside every run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

ENCODERS = ("mobilenetv2", "resnet50")
MOBILENET_BLOCKS = (13, 16)  # ModelConfig.mobilenet_blocks
# What a data root's masks mark, so that each output of a two-output network learns only what they say:
# "subject": the people the photo is about (others may be unlabelled); "everyone": every person (it says
# nothing of who the subject is); "both": every person, and they are all the subject (one-person photos,
# person-free photos, your own data by default).
LABELS = ("subject", "everyone", "both")
# The sets of ../shared/data by what their labels mean (docs/TRAINING.md, "Two outputs"): ccp leaves
# passers-by unlabelled, eg1800 labels the portrait's person, the teacher ensemble's labels (har, har-action)
# follow the people a photo is about, CamVid labels every pedestrian of a street. Any other root: "both".
SET_LABELS = {"ccp": "subject", "eg1800": "subject", "har": "subject", "har-action": "subject",
              "camvid": "everyone"}
# Every person of a subject-labelled root, where a folder beside masks/ marks them (`everyone_masks`): the
# people it marks that the subject label leaves out are bystanders, background for the subject and people
# for everyone, and everyone's background is then known (training.targets). har keeps MediaPipe's labels
# of every person; a root of your own names its folder EVERYONE_MASKS.
SET_EVERYONE_MASKS = {"har": "masks-mediapipe"}
EVERYONE_MASKS = "masks-everyone"


@dataclasses.dataclass(frozen=True)
class DataRoot:
    """One data root, its sampling weight, what its masks mark (`LABELS`) and the folder beside them that
    marks every person of a subject-labelled root ("" for none; `SET_EVERYONE_MASKS`)."""

    path: str
    weight: float = 1.0
    labels: str = "both"
    everyone_masks: str = ""

    @classmethod
    def parse(cls, text: str) -> "DataRoot":
        """Parse `ROOT[:WEIGHT][:LABELS]`; without LABELS, the set's own (`SET_LABELS`, by folder name).
        A subject-labelled root reads its every-person masks where it has them (`default_everyone_masks`)."""
        path, sep, labels = text.rpartition(":")
        if not sep or labels not in LABELS:
            path, labels = text, ""
        root, sep, weight = path.rpartition(":")
        if not sep or not _is_float(weight):
            root, weight = path, "1"
        if float(weight) < 0:
            raise ValueError(f"sampling weight must be >= 0, got {weight!r} in {text!r}")
        labels = labels or default_labels(root)
        everyone_masks = default_everyone_masks(root) if labels == "subject" else ""
        return cls(path=root, weight=float(weight), labels=labels, everyone_masks=everyone_masks)


def default_labels(root: str) -> str:
    """What a root's masks mark when the command line does not say: its set's (`SET_LABELS`), else "both"."""
    return SET_LABELS.get(Path(root).name, "both")


def default_everyone_masks(root: str) -> str:
    """The folder of a root's every-person masks: its set's (`SET_EVERYONE_MASKS`) or EVERYONE_MASKS, where
    the root has it; "" otherwise."""
    folder = SET_EVERYONE_MASKS.get(Path(root).name, EVERYONE_MASKS)
    return folder if (Path(root) / folder).is_dir() else ""


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the pairs come from, how they are split and augmented."""

    roots: tuple[DataRoot, ...]
    image_size: int = 256
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    paste_probability: float = 0.4
    photo_scale: tuple[float, float] = (0.6, 2.0)  # unpasted photo's size, relative to fitting the frame
    paste_scale: tuple[float, float] = (0.25, 1.5)  # pasted person's size, relative to fitting the frame
    grey_probability: float = 0.05
    group_probability: float = 0.3  # share of samples into which further people are pasted (groups)
    # People in action are off by default, as for the shipped model: with them a run learned people in action
    # and also dropped a smaller second person (model card, Choosing); pass them to train for action.
    action_probability: float = 0.0  # share of pasted people turned up to 180 degrees, half of them in motion
    audience_probability: float = 0.0  # share of samples whose person stands in front of an audience
    object_probability: float = 0.0  # share of samples with a thing beside or behind the person (background)
    # share of samples turned a quarter whole, photo and people alike: people lying across the frame in their
    # own scene (a pasted turn shows a person on someone else's background); 0: upright, as before
    quarter_turn_probability: float = 0.0
    # the share of the diagonal around a subject label's people where everyone learns the background
    # (training.targets.ring); 0: everyone learns only the label's people on such photos, as before
    everyone_band: float = 0.0
    augment: bool = True
    balance_groups: bool = True  # within a root, a video sequence is drawn as often as one photo
    # Teacher-labelled roots (agreement.csv): training pairs whose label the teachers agree on less than this
    # are left out (training.agreement.label_agreement); validation and test pairs all stay.
    min_agreement: float = 0.0


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Strength of every augmentation. What a run records (`DataConfig`) defaults to the same values;
    the rest are fixed here. The shipped model's own settings are in model/MODEL_CARD.md."""

    size: int
    paste_probability: float = DataConfig.paste_probability
    grey_probability: float = DataConfig.grey_probability  # a colour-only model misses people in grey photos
    photo_scale: tuple[float, float] = DataConfig.photo_scale  # relative to fitting the long side; >1 zooms in
    paste_scale: tuple[float, float] = DataConfig.paste_scale  # smaller too: small people in wide shots
    group_probability: float = DataConfig.group_probability
    action_probability: float = DataConfig.action_probability  # people in action: upside down, lying, moving
    audience_probability: float = DataConfig.audience_probability  # other people behind, who stay background
    object_probability: float = DataConfig.object_probability  # things beside the person: a flag, a poster, a model
    quarter_turn_probability: float = DataConfig.quarter_turn_probability  # the whole sample turned 90 degrees
    everyone_band: float = DataConfig.everyone_band  # background known to everyone around a subject label
    group_scale: tuple[float, float] = (0.15, 0.9)  # a further person's height, relative to the frame
    group_size: int = 3  # at most this many further people
    max_rotation_degrees: float = 10.0
    background_crop: tuple[float, float] = (0.35, 1.0)  # of the background's shorter side
    enabled: bool = True  # False: letterbox only, as validation and serving see photos

    @classmethod
    def of(cls, data: DataConfig) -> "AugmentConfig":
        """The augmentation a run's data configuration asks for."""
        if not data.augment:
            return cls.off(data.image_size)
        return cls(size=data.image_size, paste_probability=data.paste_probability, photo_scale=data.photo_scale,
                   paste_scale=data.paste_scale, grey_probability=data.grey_probability,
                   group_probability=data.group_probability, action_probability=data.action_probability,
                   audience_probability=data.audience_probability, object_probability=data.object_probability,
                   quarter_turn_probability=data.quarter_turn_probability, everyone_band=data.everyone_band)

    @classmethod
    def off(cls, size: int) -> "AugmentConfig":
        """No augmentation at all."""
        return cls(size=size, paste_probability=0.0, grey_probability=0.0, photo_scale=(1.0, 1.0),
                   group_probability=0.0, action_probability=0.0, audience_probability=0.0, enabled=False)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The network: encoder, its initialisation, and the head width."""

    encoder: str = "mobilenetv2"
    encoder_weights: str = "none"
    head_filters: int = 128
    se_ratio: int = 8
    outputs: int = 2  # 2: subject and everyone (training.deeplab); 1: one person probability, as before
    # How much of MobileNetV2 the network uses: 13 (cut at block 13's expansion, stride 16) or 16 (blocks
    # 13-16 as well, dilated to stay at stride 16, a context branch into the ASPP; training.deeplab).
    mobilenet_blocks: int = 13


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation schedule and stopping rules."""

    batch_size: int = 16
    epochs: int = 30
    steps_per_epoch: int = 0  # 0: one pass over the training pairs
    learning_rate: float = 1e-3
    warmup_epochs: float = 1.0
    patience: int = 8
    time_budget_minutes: float = 0.0  # 0: no budget
    seed: int = 1
    init_from: str = ""  # a saved .keras model of the same architecture to start from ("" = fresh)
    train_only: tuple[str, ...] = ()  # names of the only layers that learn (e.g. logits_everyone); () = all
    loss: str = "bce-person-dice"  # a key of training.metrics.LOSSES


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything needed to reproduce a run."""

    data: DataConfig
    model: ModelConfig
    train: TrainConfig

    def save(self, path: Path) -> None:
        """Write as JSON."""
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "RunConfig":
        """Read what `save` wrote."""
        raw = json.loads(path.read_text())
        data = dict(raw["data"])
        # Runs written before the option had one output, whose roots all meant "both".
        data["roots"] = tuple(DataRoot(**{"labels": "both", **root}) for root in data["roots"])
        data.setdefault("balance_groups", False)  # runs written before the option drew every pair equally
        data.setdefault("group_probability", 0.0)  # runs written before the option pasted no further people
        data.setdefault("action_probability", 0.0)  # runs written before the options had no people in action
        data.setdefault("audience_probability", 0.0)
        for scale in ("photo_scale", "paste_scale"):  # JSON has lists; runs written before an option get its default
            data[scale] = tuple(data.get(scale, getattr(DataConfig, scale)))
        train = dict(raw["train"])
        train.setdefault("loss", "bce-dice")  # runs written before the option used Dice on every image
        train["train_only"] = tuple(train.get("train_only", ()))  # JSON has a list
        return cls(
            data=DataConfig(**data),
            model=ModelConfig(**{"outputs": 1, **raw["model"]}),
            train=TrainConfig(**train),
        )
