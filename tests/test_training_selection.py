"""The selection score: every set counts with its weight; missed photos and person-free area count against it."""

import pytest

from training.selection import FALSE_AREA_COST, SET_WEIGHTS, is_missed, selection_score


def _people(mean_iou: float, recall: float, missed_share: float = 0.0) -> dict:
    return {"person_photos": 10, "mean_iou": mean_iou, "recall": recall, "missed_share": missed_share,
            "free_photos": 0, "free_area": float("nan")}


def _free(area: float, photos: int) -> dict:
    return {"person_photos": 0, "mean_iou": float("nan"), "recall": 0.0, "missed_share": 0.0,
            "free_photos": photos, "free_area": area}


def test_one_set_scores_the_mean_of_its_iou_and_recall():
    assert selection_score({"ccp": _people(0.8, 0.9)}) == pytest.approx(0.85)


def test_a_missed_photo_costs_as_much_as_an_iou_and_recall_of_zero():
    assert selection_score({"ccp": _people(0.8, 0.9, missed_share=0.1)}) == pytest.approx(0.75)


def test_sets_count_with_their_weights_and_the_overall_row_is_ignored():
    summary = {"ccp": _people(1.0, 1.0), "viton": _people(0.0, 0.0), "overall": _people(0.0, 0.0)}
    expected = SET_WEIGHTS["ccp"] / (SET_WEIGHTS["ccp"] + SET_WEIGHTS["viton"])
    assert selection_score(summary) == pytest.approx(expected)


def test_person_free_area_is_pooled_over_photos_and_subtracted():
    summary = {"ccp": _people(1.0, 1.0), "negatives": _free(0.03, 10), "scenes": _free(0.0, 20)}
    assert selection_score(summary) == pytest.approx(1.0 - FALSE_AREA_COST * 0.01)


@pytest.mark.parametrize("predicted, true, missed", [(0.009, 0.1, True), (0.011, 0.1, False), (0.0, 0.0, False)])
def test_a_photo_is_missed_below_a_tenth_of_its_true_area(predicted, true, missed):
    assert is_missed(predicted, true) is missed
