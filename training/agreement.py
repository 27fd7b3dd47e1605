"""How far the teachers agree on each photo of a root labelled by `training.teach` (its `agreement.csv`).

`agreement` in the file is the mean IoU of every pair of the members' masks. A member that finds no one
(under `EMPTY_AREA` of the photo) where two others find a person is left out of that photo's label, but
still counts in `agreement`: MODNet finds no one in about half of the photos of people in action, so a low
`agreement` there does not mean a bad label (../shared/data/README.md). `label_agreement` reads the
agreement of the members the label was made of; `trusted` keeps the pairs whose label they agree on.
"""

from __future__ import annotations

import collections
import csv
import logging
import math
from pathlib import Path

from training import data as datalib

log = logging.getLogger("training.agreement")

FILE = "agreement.csv"
AREA_PREFIX = "area_"  # agreement.csv's column of each member's person area: area_<member>
EMPTY_AREA = 0.005  # a member that marks less of the photo than this found no one (training.teach.ensemble)


def read(root: str | Path) -> dict[str, dict[str, str]]:
    """agreement.csv of a labelled root, by id (empty where the root has none)."""
    report = Path(root) / FILE
    if not report.is_file():
        return {}
    with report.open(newline="") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


def label_agreement(row: dict[str, str]) -> float:
    """The mean pairwise IoU of the members the photo's label was made of: every member, or the ones that
    found someone where two or more did. A pair of one member that found someone and one that did not has an
    IoU of about 0, a pair of two that found no one about 1; taking those out of the file's mean leaves the
    finders' own (for three members and one empty-handed: 3 x agreement)."""
    value = float(row["agreement"])
    areas = [float(text) for name, text in row.items() if name.startswith(AREA_PREFIX)]
    found = sum(area >= EMPTY_AREA for area in areas)
    if found < 2 or found == len(areas):
        return value
    lost = math.comb(len(areas) - found, 2)  # pairs of members that both found no one, IoU about 1
    return min(1.0, max(0.0, (value * math.comb(len(areas), 2) - lost) / math.comb(found, 2)))


def trusted(pairs: list[datalib.Pair], min_agreement: float) -> list[datalib.Pair]:
    """The pairs whose label its members agree on (`label_agreement` >= min_agreement); pairs of a root
    without agreement.csv (hand labels) and ids it does not list are all kept."""
    if min_agreement <= 0:
        return list(pairs)
    reports = {root: read(root) for root in {pair.root for pair in pairs}}
    kept = [pair for pair in pairs
            if (row := reports[pair.root].get(pair.id)) is None or label_agreement(row) >= min_agreement]
    left = collections.Counter(pair.root for pair in pairs)
    left.subtract(pair.root for pair in kept)
    for root, report in reports.items():
        if report:
            log.info("%s: %d pairs left out, the teachers agree under %.2f on their labels", root, left[root],
                     min_agreement)
    return kept
