"""training.pack: data roots copied small (WebP, shrunk), ids and split kept."""

import cv2
import numpy as np

from tests.shapes import write_root
from training import data as datalib, pack


def test_packed_root_is_shrunk_webp_with_the_same_ids_and_split(tmp_path):
    root = write_root(tmp_path / "src" / "shapes", 12, empty=3)
    assert pack.main([str(root), "--out", str(tmp_path / "packed"), "--max-side", "48", "--quality", "90"]) == 0
    packed = datalib.find_pairs(tmp_path / "packed" / "shapes")
    assert [p.id for p in packed] == [p.id for p in datalib.find_pairs(root)]
    assert all(p.image_path.suffix == ".webp" for p in packed)
    sample, original = datalib.read_pair(packed[0]), datalib.read_pair(datalib.find_pairs(root)[0])
    assert sample.image.shape == (48, 43, 3) and sample.mask.shape == (48, 43)  # 72 x 64 shrunk to 48 long
    mask = cv2.imread(str(packed[0].mask_path), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(mask)) == {0, 255}
    shrunk = cv2.resize(original.image, (43, 48), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(sample.image.astype(int) - shrunk).mean() < 6  # WebP's loss only
    split = lambda pairs: {name: [p.id for p in part] for name, part in datalib.split_root(pairs, 0.2, 0.2, 1).items()}
    assert split(packed) == split(datalib.find_pairs(root))


def test_two_roots_of_one_name_are_refused(tmp_path, capsys):
    first, second = write_root(tmp_path / "a" / "set", 2), write_root(tmp_path / "b" / "set", 2)
    assert pack.main([str(first), str(second), "--out", str(tmp_path / "packed")]) == 2
    assert "share a folder name" in capsys.readouterr().err
    assert not (tmp_path / "packed").exists()


def test_a_missing_root_is_a_clear_error(tmp_path, capsys):
    assert pack.main([str(tmp_path / "missing"), "--out", str(tmp_path / "packed")]) == 2
    assert "no images/ folder" in capsys.readouterr().err
    assert not (tmp_path / "packed" / "missing").exists()
