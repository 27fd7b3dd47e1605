"""Evaluate a saved model: `python -m training.evaluate --model PATH (--data ROOT ... | --run RUN_DIR)`.

Reports, per set and overall, Accuracy, F1 (Dice), Jaccard (IoU), Recall and Precision over all
pixels at the photo's own resolution, the mean per-photo IoU and Boundary IoU, the photos with a person
where the model finds almost nothing ("missed"), the half-sure share (alpha between 0.1 and 0.9 farther
than 2% of the diagonal from the label's outline: ghosts, `training.metrics.half_sure`) and the photos
with more than 5% of it, the mean person area marked on person-free photos, and the one selection score
(`training.selection`); writes a per-image CSV, a JSON summary and a panel of the worst and best images.
--people picks what is scored as the service's option does: the subject output (default), everyone's
(all), or the largest subject region (main).
With --close-up it scores head-and-shoulders crops of the photos with a person instead (portraits).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from model.compose import over_checkerboard, to_alpha8
from model.pipeline import PEOPLE, output_of
from model.refine import DECIDE_SHARE, guided_alpha
from model.segmenter import SECOND_LOOK_SIZE, Segmenter
from model.subject import main_region
from training import data as datalib
from training.config import DataRoot, RunConfig
from training.metrics import boundary_iou, confusion, half_sure, scores
from training.selection import is_missed, selection_score

PANEL_ROWS = 4  # worst and best images each
PANEL_HEIGHT = 192
# Head-and-shoulders box, in units of the person's height in the mask: from a little above the head down
# to about the chest, centred on the head (the columns of the person's top rows).
CLOSE_UP_ABOVE, CLOSE_UP_BELOW, CLOSE_UP_HALF_WIDTH, HEAD_ROWS = 0.05, 0.3, 0.2, 0.15
UNDECIDED_PHOTO = 0.05  # a photo counts as undecided where more than 5% of its judged pixels are half-sure


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path, help="a saved .keras model")
    parser.add_argument("--data", nargs="+", metavar="ROOT",
                        help="evaluate every pair of these roots (with --run: beside the run's split, e.g. the "
                             "people in action of `python -m training.action`)")
    parser.add_argument("--run", type=Path, help="evaluate a split of this run's manifest (see --split)")
    parser.add_argument("--split", choices=("test", "val", "train"), default="test",
                        help="with --run: the held-out test split (default), validation for choosing settings, "
                             "or the training split to see what the model has not fitted")
    parser.add_argument("--size", type=int, default=None,
                        help="canvas side (each photo's canvas holds about SIZE x SIZE pixels at its aspect) for a model "
                             "without a fixed input size (default: the run's training size, else 320)")
    parser.add_argument("--second-look", type=int, default=SECOND_LOOK_SIZE, metavar="SIDE",
                        help="side of the service's second look at large people (0: none; "
                             f"default {SECOND_LOOK_SIZE}, as served)")
    parser.add_argument("--turn-look", action="store_true",
                        help="score with the turn look at people lying across the frame (model.segmenter; not served)")
    parser.add_argument("--refine", action="store_true",
                        help="score the alpha the service returns: the probability refined along the photo's edges")
    parser.add_argument("--people", choices=PEOPLE, default=PEOPLE[0],
                        help="score the service's people option: subject (the subject output), all (the everyone "
                             "output) or main (the largest subject region, model.subject)")
    parser.add_argument("--main-person", action="store_const", const="main", dest="people", help="--people main")
    parser.add_argument("--decide-share", type=float, default=DECIDE_SHARE, metavar="SHARE",
                        help="with --refine: the decisive alpha's band along the outline, a share of the diagonal "
                             f"(model.refine; default {DECIDE_SHARE}, as served; 0: off, to measure it)")
    parser.add_argument("--close-up", action="store_true",
                        help="score a head-and-shoulders crop of every photo with a person (a portrait), cut "
                             "around the person's head as the mask shows it; person-free photos are left out")
    parser.add_argument("--sets", nargs="+", default=None, metavar="NAME",
                        help="only the pairs of these sets, by the root's folder name (e.g. negatives)")
    parser.add_argument("--id-prefix", default="", metavar="PREFIX",
                        help="only the pairs whose id starts with PREFIX (e.g. coco: the COCO photos of negatives)")
    parser.add_argument("--out", type=Path, default=None, help="report folder (default: <run>/eval or ./eval)")
    args = parser.parse_args(argv)
    if args.run is None and not args.data:
        parser.error("give --run, --data or both")
    return args


def evaluation_pairs(run: Path | None, split: str, data: list[str] | None = None, sets: list[str] | None = None,
                     id_prefix: str = "") -> list[datalib.Pair]:
    """The split of the run and every pair of the roots in `data`, narrowed to `sets` (by the root's folder
    name) and to the ids starting with `id_prefix` (--run, --split, --data, --sets, --id-prefix)."""
    pairs = datalib.load_manifest(run / "manifest.json")[split] if run is not None else []
    # ROOT:WEIGHT is accepted too, so the training command's --data list can be pasted as it is.
    pairs += [pair for text in data or () for pair in datalib.find_pairs(DataRoot.parse(text).path)]
    chosen = [pair for pair in pairs if (sets is None or Path(pair.root).name in sets)
              and pair.id.startswith(id_prefix)]
    if pairs and not chosen:
        raise ValueError("no pair left to evaluate: check --sets and --id-prefix")
    return chosen


def close_up(sample: datalib.Sample) -> datalib.Sample | None:
    """The head-and-shoulders crop of a photo with a person, or None for a person-free photo."""
    rows, columns = np.nonzero(sample.mask)
    if rows.size == 0:
        return None
    top, height = int(rows.min()), int(rows.max() - rows.min() + 1)
    centre = int(columns[rows < top + HEAD_ROWS * height].mean())
    half = max(1, round(CLOSE_UP_HALF_WIDTH * height))
    y0, y1 = max(0, top - round(CLOSE_UP_ABOVE * height)), top + max(1, round(CLOSE_UP_BELOW * height))
    x0, x1 = max(0, centre - half), centre + half
    return dataclasses.replace(sample, image=np.ascontiguousarray(sample.image[y0:y1, x0:x1]),
                               mask=np.ascontiguousarray(sample.mask[y0:y1, x0:x1]))


def evaluate(segmenter: Segmenter, pairs: list[datalib.Pair], refine: bool = False,
             close_ups: bool = False, people: str = PEOPLE[0],
             decide_share: float | None = DECIDE_SHARE) -> tuple[list[dict], dict[str, dict], list]:
    """Per-image rows, per-set (by the root's folder name) and overall summaries, and (score, photo,
    truth, probability) for the panel.

    With `refine`, the probability goes through the service's edge refinement first (`model.refine`);
    with `close_ups`, each photo with a person is scored on its head-and-shoulders crop (`close_up`);
    `people` reads the network output the service's option does, and "main" keeps only the largest region;
    `decide_share` is the refinement's decisive band (None or 0: off).
    """
    rows, tallies, shown = [], {}, []
    for pair in pairs:
        sample = datalib.read_pair(pair)
        if sample is not None and close_ups:
            sample = close_up(sample)
        if sample is None:
            continue
        probability = segmenter.predict(sample.image, output_of(people))
        if refine:
            probability = guided_alpha(sample.image, probability, decide_share=decide_share or None)
        if people == "main" and (keep := main_region(probability >= 0.5)) is not None:
            probability = probability * keep
        unsure, judged = half_sure(sample.mask, probability)
        c = confusion(sample.mask, probability)
        image_scores = scores(c)
        area, true_area = float(np.mean(probability >= 0.5)), float(sample.mask.mean())
        row = {"root": pair.root, "id": pair.id, **image_scores,
               "boundary_iou": boundary_iou(sample.mask, probability) if true_area > 0 else float("nan"),
               "mae": float(np.mean(np.abs(probability - sample.mask))),
               "person_area": area, "true_area": true_area, "missed": is_missed(area, true_area),
               "half_sure": unsure / judged if judged else 0.0, "half_sure_pixels": unsure, "judged_pixels": judged}
        rows.append(row)
        for key in (Path(pair.root).name, "overall"):
            tallies.setdefault(key, _Tally()).add(c, row)
        # Person-free photos rank by their false area; only photos with a person count as "best".
        has_person = true_area > 0
        rank = image_scores["jaccard"] if has_person else 1.0 - area
        shown.append((rank, has_person, pair.id, sample.image, sample.mask, probability))
        shown = _keep_extremes(shown)
    return rows, {key: tally.summary() for key, tally in tallies.items()}, shown


@dataclasses.dataclass
class _Tally:
    """What one set's summary is made of: pooled pixel counts, and per-photo figures."""

    counts: np.ndarray | int = 0
    errors: list = dataclasses.field(default_factory=list)
    areas: list = dataclasses.field(default_factory=list)
    person_ious: list = dataclasses.field(default_factory=list)
    boundary_ious: list = dataclasses.field(default_factory=list)
    missed: int = 0
    free_areas: list = dataclasses.field(default_factory=list)
    unsure: int = 0
    judged: int = 0
    undecided: int = 0

    def add(self, counts: np.ndarray, row: dict) -> None:
        self.counts = self.counts + counts
        self.unsure += row["half_sure_pixels"]
        self.judged += row["judged_pixels"]
        self.undecided += row["half_sure"] > UNDECIDED_PHOTO
        self.errors.append(row["mae"])
        self.areas.append(row["person_area"])
        if row["true_area"] > 0:
            self.person_ious.append(row["jaccard"])
            self.boundary_ious.append(row["boundary_iou"])
            self.missed += row["missed"]
        else:
            self.free_areas.append(row["person_area"])

    def summary(self) -> dict:
        """The five pooled figures, MAE and mean area over all photos; over the photos with a person the
        mean per-photo IoU and Boundary IoU and the missed ones; over the person-free photos the mean area
        marked."""
        people, free = len(self.person_ious), len(self.free_areas)
        return {**scores(self.counts), "mae": float(np.mean(self.errors)), "mean_person_area": float(np.mean(self.areas)),
                "images": len(self.errors), "person_photos": people,
                "mean_iou": float(np.mean(self.person_ious)) if people else float("nan"),
                "boundary_iou": float(np.mean(self.boundary_ious)) if people else float("nan"),
                "missed": self.missed, "missed_share": self.missed / people if people else 0.0,
                "free_photos": free, "free_area": float(np.mean(self.free_areas)) if free else float("nan"),
                "half_sure": self.unsure / self.judged if self.judged else 0.0, "undecided_photos": self.undecided}


def _keep_extremes(shown: list) -> list:
    """Only the worst few, and the best few photos with a person, need to stay in memory."""
    shown.sort(key=lambda item: (item[0], item[1]))
    worst = shown[:PANEL_ROWS]
    best = [item for item in shown[PANEL_ROWS:] if item[1]][-PANEL_ROWS:]
    return worst + best


def panel(shown: list) -> np.ndarray:
    """Rows of photo | ground truth | prediction | cutout on a checkerboard: worst first, best last."""
    rows = []
    for _, _, _, image, mask, probability in shown:
        alpha8 = to_alpha8(probability)
        tiles = [image, np.repeat(mask[..., None] * 255, 3, axis=2),
                 np.repeat(alpha8[..., None], 3, axis=2), over_checkerboard(image, alpha8)]
        scale = PANEL_HEIGHT / image.shape[0]
        width = max(1, round(image.shape[1] * scale))
        rows.append(np.hstack([cv2.resize(t, (width, PANEL_HEIGHT), interpolation=cv2.INTER_AREA) for t in tiles]))
    widest = max(row.shape[1] for row in rows)
    return np.vstack([np.pad(row, ((0, 4), (0, widest - row.shape[1]), (0, 0)), constant_values=255) for row in rows])


def write_report(out: Path, rows: list[dict], summary: dict, shown: list) -> None:
    """per_image.csv, summary.json and panel.png."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "per_image.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if shown:
        cv2.imwrite(str(out / "panel.png"), cv2.cvtColor(panel(shown), cv2.COLOR_RGB2BGR))


def format_table(summary: dict) -> str:
    """The summary as a Markdown table: per set, then overall."""
    lines = ["| set | photos | Jaccard | mean IoU | Boundary IoU | recall | precision | F1 | accuracy | missed | "
             "half-sure | photos > 5% half-sure | person-free photos | their person area |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, v in sorted(summary.items(), key=lambda item: item[0] == "overall"):  # the sets, then overall
        # On a person-free set every figure but accuracy is 0 (or 1) by definition: its area is what counts.
        people = ("jaccard", "mean_iou", "boundary_iou", "recall", "precision", "f1") if v["person_photos"] else ()
        figures = [f"{v[c]:.4f}" for c in people] + ["-"] * (6 - len(people)) + [f"{v['accuracy']:.4f}"]
        missed = f"{v['missed']} of {v['person_photos']}" if v["person_photos"] else "-"
        free = f"{v['free_area']:.2%}" if v["free_photos"] else "-"
        unsure = f"{v['half_sure']:.2%} | {v['undecided_photos']}"
        lines.append(f"| {key} | {v['images']} | " + " | ".join(figures) +
                     f" | {missed} | {unsure} | {v['free_photos']} | {free} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m training.evaluate`."""
    args = parse_args(argv)
    size = args.size
    if size is None and args.run is not None and (args.run / "config.json").is_file():
        size = RunConfig.load(args.run / "config.json").data.image_size
    segmenter = Segmenter.load(args.model, size, args.second_look,  # 0: no second look
                               turn_look=args.turn_look)
    try:
        pairs = evaluation_pairs(args.run, args.split, args.data, args.sets, args.id_prefix)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows, summary, shown = evaluate(segmenter, pairs, args.refine, args.close_up, args.people, args.decide_share)
    if not rows:
        what = "pairs with a person" if args.close_up else "pairs"
        print(f"error: no readable {what} to evaluate", file=sys.stderr)
        return 2
    out = args.out or ((args.run / "eval") if args.run else Path("eval"))
    write_report(out, rows, summary, shown)
    refined = f", edge refinement on (decisive band {args.decide_share or 'off'})" if args.refine else ""
    cropped = ", head-and-shoulders crops" if args.close_up else ""
    only_main = f", people={args.people} ({output_of(args.people)} output of {', '.join(segmenter.outputs)})"
    second = (f", second look at {segmenter.second_look}" if segmenter.second_look else "") + (
        ", turn look" if segmenter.turn_look else "")
    print(f"model {args.model} on canvases of about {segmenter.size}x{segmenter.size} at each photo's aspect"
          f"{second}{refined}{only_main}{cropped}, {len(rows)} images")
    print(format_table(summary))
    print(f"selection score {selection_score(summary):.4f} (training/selection.py: every set weighted, "
          f"missed photos and person-free area count against it)")
    print(f"report: {out}/summary.json, {out}/per_image.csv, {out}/panel.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
