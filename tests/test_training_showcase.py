"""training.showcase on your own photos, with the shipped model: areas printed, panel written, bad files skipped."""

import cv2
import numpy as np

from model import SHIPPED_MODEL
from tests.shapes import write_root
from training import showcase


def test_showcase_judges_a_folder_of_own_photos(tmp_path, capsys, astronaut_jpeg):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "b-astronaut.jpg").write_bytes(astronaut_jpeg)
    (photos / "a-blank.png").write_bytes(cv2.imencode(".png", np.full((90, 120, 3), 128, np.uint8))[1].tobytes())
    (photos / "c-broken.jpg").write_bytes(b"not a photo")
    (photos / "notes.txt").write_text("not an image file")
    out = tmp_path / "panel.png"

    assert showcase.main(["--model", str(SHIPPED_MODEL), "--out", str(out), "--photos", str(photos),
                          "--only-mine"]) == 0

    printed = capsys.readouterr()
    areas = dict(line.split(": person area ") for line in printed.out.splitlines() if "person area" in line)
    assert list(areas) == ["a-blank", "b-astronaut"]  # name order; the broken file and the text file left out
    assert areas["a-blank"] == "0.0%"
    assert float(areas["b-astronaut"].rstrip("%")) > 20  # the shipped model finds the astronaut (59%)
    assert "skipped" in printed.err and "c-broken.jpg" in printed.err
    panel = cv2.imread(str(out))
    assert panel.shape[0] == 2 * (showcase.TILE_HEIGHT + 4)


def test_showcase_adds_close_ups_of_a_data_roots_test_portraits(tmp_path, capsys):
    root = write_root(tmp_path / "portraits", 30)
    out = tmp_path / "panel.png"
    assert showcase.main(["--model", str(SHIPPED_MODEL), "--out", str(out), "--only-mine",
                          "--portraits", str(root), "--portrait-count", "2"]) == 0
    names = [line.split(": person area ")[0] for line in capsys.readouterr().out.splitlines() if "person area" in line]
    assert len(names) == 2 and all(name.endswith("(close-up)") for name in names)
    assert cv2.imread(str(out)).shape[0] == 2 * (showcase.TILE_HEIGHT + 4)
