"""The batch command's Ray engine on a local Ray with 2 CPUs: the local engine's outputs, failures reported."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from model import __main__ as cli
from model.pipeline import CutoutOptions
from tests.conftest import encode
from training.showcase import grace_hopper

ray = pytest.importorskip("ray", reason="the Ray engine's tests need requirements-batch.txt")
MODEL_PACKAGE = Path(cli.__file__).resolve().parent


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"py_modules": [str(MODEL_PACKAGE)]})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut) -> Path:
    """Real photos in several formats and sizes, one with an EXIF rotation, and one broken file."""
    folder = tmp_path_factory.mktemp("photos")
    exif = Image.Exif()
    exif[0x0112] = 6
    (folder / "astronaut.jpg").write_bytes(encode(astronaut, "JPEG"))
    (folder / "hopper-rotated.jpg").write_bytes(encode(grace_hopper(), "JPEG", exif=exif.tobytes()))
    (folder / "cameraman.png").write_bytes(encode(skdata.camera(), "PNG"))
    (folder / "coffee.webp").write_bytes(encode(skdata.coffee(), "WEBP", lossless=True))
    (folder / "chelsea.jpg").write_bytes(encode(skdata.chelsea(), "JPEG"))
    (folder / "broken.jpg").write_bytes(encode(astronaut, "JPEG")[:2000])
    return folder


def _alpha(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        rgba = np.asarray(image)
    assert rgba[rgba[..., 3] == 0, :3].max(initial=0) == 0, path  # nothing of the background under alpha 0
    return rgba[..., 3]


def test_ray_engine_writes_the_local_engines_cutouts_and_reports_the_broken_file(local_ray, photos, tmp_path,
                                                                                   segmenter, capsys):
    local, distributed = tmp_path / "local", tmp_path / "ray"
    assert cli.run(cli.collect([photos]), local, segmenter, CutoutOptions()) == 1
    capsys.readouterr()
    code = cli.main([str(photos), "-o", str(distributed), "--engine", "ray", "--batch-size", "2", "--workers", "1"])
    report = capsys.readouterr().err
    assert code == 1
    failures = [line for line in report.splitlines() if "skipped" in line]
    assert len(failures) == 1 and "broken.jpg" in failures[0], report
    assert "5 written, 1 failed" in report and "photos/s" in report
    names = sorted(p.name for p in distributed.iterdir())
    assert names == sorted(p.name for p in local.iterdir()) and len(names) == 5
    for name in names:
        expected, got = _alpha(local / name), _alpha(distributed / name)
        assert got.shape == expected.shape, name
        close = np.abs(got.astype(int) - expected.astype(int)) <= 1
        assert close.mean() >= 0.999, (name, close.mean())


def test_a_missing_input_is_one_failed_row_and_the_job_goes_on(local_ray, photos, tmp_path, capsys):
    code = cli.main([str(photos / "astronaut.jpg"), str(photos / "nowhere.jpg"), "-o", str(tmp_path / "out"),
                     "--engine", "ray", "--mask"])
    report = capsys.readouterr().err
    assert code == 1 and "nowhere.jpg: skipped" in report and "1 written, 1 failed" in report
    with Image.open(tmp_path / "out" / "astronaut.png") as image:
        assert image.mode == "L" and image.size == (512, 512)


def test_an_empty_folder_is_an_error_as_on_the_local_engine(local_ray, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = cli.main([str(tmp_path / "empty"), "-o", str(tmp_path / "out"), "--engine", "ray"])
    assert code == 2 and "error: no photos found in the inputs given" in capsys.readouterr().err


def test_the_service_does_not_import_ray():
    import subprocess
    import sys

    code = "import sys, app, wsgi; assert 'ray' not in sys.modules, 'ray imported'"
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(cli.__file__).resolve().parents[1],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
