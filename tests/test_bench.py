"""The benchmarks run end to end on the shipped model (their figures are not asserted: speed is measured, not tested)."""

import json

from bench import levers
from bench.__main__ import format_report, stages
from bench.measure import photo
from app import create_app
from model import SHIPPED_MODEL


def test_stage_benchmark_covers_every_stage(segmenter):
    client = create_app({"SEGMENTER": segmenter, "WARM_UP": False}).test_client()
    result = stages(segmenter, client, photo(400, 300), repeats=1)
    assert list(result) == ["decode + EXIF", "resize to serving size", "forward pass", "upsample + refine",
                            "compose (with the foreground colour)", "  of which foreground colour", "PNG encode", "whole request (WSGI)", "floor: Pillow decode + PNG encode"]
    assert all(value["median_s"] > 0 and value["runs"] == 1 for value in result.values())
    report = {"device": "CPU", "serving_size": segmenter.size, "engine": segmenter.engine, "bare_forward": {},
              "photos": {"small": {"bytes": 1, "stages": result, "peak_request_mb": 1.0,
                                           "cutout_bytes": 2}}}
    assert "whole request / floor = " in format_report(report)
    assert "whole request / (floor + forward pass) = " in format_report(report)


def test_levers_compare_the_served_choice_with_its_alternatives(segmenter, tmp_path, monkeypatch):
    monkeypatch.setitem(levers.SIZES, "12MP", (400, 300))  # the same code on a small photo
    out = tmp_path / "levers.json"
    assert levers.main(["--repeats", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert list(report["levers"]) == ["forward pass", "canvas shapes", "resize to serving size", "upsample + refine",
                                      "foreground colour", "compose", "decode 1MP", "encode 1MP", "decode 12MP", "encode 12MP"]
    engines = report["levers"]["forward pass"]
    served = [row for row in engines if row["lever"].startswith("LiteRT float32, XNNPACK (served)")]
    assert len(served) == 2 * 8 and all(float(row["max_probability_difference"]) < 1e-3 for row in served)
    assert any("oneDNN off" in row["lever"] for row in engines)
    shapes = report["levers"]["canvas shapes"]
    assert [row["lever"] for row in shapes][0] == "320 x 320, first look (served)" and len(shapes) == 10
    assert all(0.93 < float(row["pixels_vs_square"]) < 1.07 for row in shapes[:7])
    for stage, rows in report["levers"].items():
        assert sum("(served)" in row["lever"] for row in rows) >= 1, stage
    encoded = {row["lever"]: row["bytes"] for row in report["levers"]["encode 12MP"]}
    assert encoded["Pillow PNG level 1 (the floor)"] > encoded["Pillow PNG level 6"]  # compression does compress
    decoders = [row for row in report["levers"]["decode 12MP"] if "same_pixels_as_pillow" in row]
    assert len(decoders) == 5 and all(row["same_pixels_as_pillow"] == "True" for row in decoders)


def test_batch_benchmark_times_each_engine_and_batch_size(tmp_path):
    from bench import batch

    out = tmp_path / "batch.json"
    assert batch.main(["--photos", "3", "--batch-sizes", "1", "2", "--engines", "local", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["photos"] == 3 and 0.1 < report["mean_megapixels"] < 2
    assert [(row["engine"], row["batch_size"]) for row in report["rows"]] == [("local", 1), ("local", 2)]
    assert all(row["photos_per_s"] > 0 for row in report["rows"])


def test_capacity_benchmark_prices_a_wider_head_as_served(tmp_path, monkeypatch):
    from bench import capacity

    monkeypatch.setitem(capacity.SIZES, "12MP", (400, 300))  # the same code on a small photo
    out = tmp_path / "capacity.json"
    # a saved file is priced beside them by its name (here the shipped file itself, as a candidate would be)
    assert capacity.main(["--widths", "64", "--models", str(SHIPPED_MODEL), "--repeats", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert list(report["median_ms"]) == ["shipped", "head 64", SHIPPED_MODEL.name]
    assert all(value > 0 for row in report["median_ms"].values() for value in row.values())
    files = report["files"]
    assert files["shipped"]["parameters"] == 1_145_746  # the model card's count
    assert files[SHIPPED_MODEL.name] == files["shipped"]
    assert files["head 64"]["parameters"] < files["shipped"]["parameters"] and files["head 64"]["tflite MB"] > 1
