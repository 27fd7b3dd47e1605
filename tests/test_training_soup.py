"""training.soup: the weight average of two saved networks, and a clear error for unlike ones."""

import keras
import numpy as np
import pytest

from training import soup
from training.config import ModelConfig
from training.deeplab import build_deeplabv3plus


def _saved(path, head_filters: int, seed: int):
    keras.utils.set_random_seed(seed)
    model = build_deeplabv3plus(ModelConfig(head_filters=head_filters), 64)
    model.save(path)
    return model.get_weights()


def test_soup_writes_the_weighted_average(tmp_path):
    first = _saved(tmp_path / "a.keras", 16, seed=1)
    second = _saved(tmp_path / "b.keras", 16, seed=2)
    out = tmp_path / "soup" / "ab.keras"
    assert soup.main([str(tmp_path / "a.keras"), str(tmp_path / "b.keras"), "--weight", "0.25",
                      "--out", str(out)]) == 0
    averaged = keras.saving.load_model(out, compile=False).get_weights()
    differing = [i for i, (a, b) in enumerate(zip(first, second)) if not np.array_equal(a, b)]
    assert len(differing) > 10  # the head's random initialisations differ between the seeds
    for got, a, b in zip(averaged, first, second):
        np.testing.assert_allclose(got, 0.25 * a + 0.75 * b, rtol=1e-6, atol=1e-7)


def test_soup_refuses_models_of_different_architectures(tmp_path, capsys):
    _saved(tmp_path / "a.keras", 16, seed=1)
    _saved(tmp_path / "b.keras", 32, seed=1)
    assert soup.main([str(tmp_path / "a.keras"), str(tmp_path / "b.keras"), "--out", str(tmp_path / "x.keras")]) == 2
    assert "different architectures" in capsys.readouterr().err
    assert not (tmp_path / "x.keras").exists()


def test_soup_weight_must_be_a_share():
    with pytest.raises(SystemExit):
        soup.parse_args(["a.keras", "b.keras", "--weight", "1.5", "--out", "x.keras"])


def test_a_grown_network_averages_with_the_network_it_grew_from():
    small = build_deeplabv3plus(ModelConfig(head_filters=16), 64)
    keras.utils.set_random_seed(3)
    grown = build_deeplabv3plus(ModelConfig(head_filters=16, mobilenet_blocks=16), 64)
    projection = grown.get_layer("aspp_deep_project")
    projection.set_weights([np.full_like(w, 0.01) for w in projection.get_weights()])  # as if it had learned
    trained_block = grown.get_layer("deep_block_15_expand").get_weights()[0]
    photos = np.random.default_rng(5).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    alone = small.predict(photos, verbose=0)
    assert np.abs(grown.predict(photos, verbose=0) - alone).max() > 1e-3, "the branch adds something"
    # All of the 13-block model: the grown network says what it says, the deep branch adding nothing.
    np.testing.assert_allclose(soup.soup(keras.models.clone_model(grown), small, 0.0).predict(photos, verbose=0),
                               alone, atol=1e-5)
    grown_copy = keras.models.clone_model(grown)
    grown_copy.set_weights(grown.get_weights())
    half = soup.soup(grown_copy, small, 0.5)
    np.testing.assert_allclose(half.get_layer("aspp_deep_project").get_weights()[0], 0.005, rtol=1e-6)
    np.testing.assert_array_equal(half.get_layer("deep_block_15_expand").get_weights()[0], trained_block)
    with pytest.raises(ValueError, match="different architectures"):
        soup.soup(small, grown, 0.5)
