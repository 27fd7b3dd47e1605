"""The one score that chooses checkpoints and settings: every set's validation split, weighted.

    score = sum_s w_s * (mean IoU_s + recall_s - 2 * missed_s) / 2 / sum_s w_s  -  FALSE_AREA_COST * false area

over the sets s with a person, where mean IoU is the mean of the per-photo IoU (as the photos are served:
each counts once), recall is over the set's pixels, missed_s the share of its photos where the model finds
almost nothing (`MISSED_FRACTION`), and false area the mean person area the model marks on the person-free
photos of all sets. A missed photo costs as much as a photo at IoU 0 and recall 0; 1% of a person-free
photo marked costs 0.05. Sets not in `SET_WEIGHTS` (your own data) weigh 1.
"""

from __future__ import annotations

# The kinds of photo the service is asked to cut out most: portraits and everyday photos as much as the
# hand-labelled street fashion, people in action (`training.action`'s composed set, by its folder name, and
# har-action's real photos) and two people, one smaller (`training.group`'s); small pedestrians and the
# machine-labelled studio set less.
SET_WEIGHTS = {"ccp": 1.0, "eg1800": 1.0, "har": 1.0, "har-action": 1.0, "action-val": 1.0, "action-test": 1.0,
               "group-val": 1.0, "group-test": 1.0, "camvid": 0.5, "viton": 0.25}
FALSE_AREA_COST = 5.0
MISSED_FRACTION = 0.1  # a photo is missed when the predicted person area is below 10% of the true one


def is_missed(predicted_area: float, true_area: float) -> bool:
    """Whether a photo with a person came back (almost) empty."""
    return true_area > 0 and predicted_area < MISSED_FRACTION * true_area


def selection_score(summary: dict[str, dict]) -> float:
    """The weighted score of an evaluation summary (per set: mean_iou, recall, missed_share, person-free area).

    `summary` maps a set's name to its figures, as `training.evaluate.evaluate` returns them; an
    "overall" entry is ignored. NaN when there is no set with a person.
    """
    sets = {name: figures for name, figures in summary.items() if name != "overall"}
    weighted = total = 0.0
    for name, figures in sets.items():
        if figures["person_photos"]:
            weight = SET_WEIGHTS.get(name, 1.0)
            weighted += weight * (figures["mean_iou"] + figures["recall"] - 2.0 * figures["missed_share"]) / 2.0
            total += weight
    free = [figures for figures in sets.values() if figures["free_photos"]]
    false_area = (sum(f["free_area"] * f["free_photos"] for f in free) / sum(f["free_photos"] for f in free)
                  if free else 0.0)
    return weighted / total - FALSE_AREA_COST * false_area if total else float("nan")
