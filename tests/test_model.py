from pathlib import Path

import numpy as np
import pytest
import torch

import igtt
from igtt import IGTT, Config, preset, segment
from igtt.io.outputs import TEMP_PREFIX
from igtt.io.synthetic import make_filaments, make_nuclei

from .conftest import TINY


def test_fit_predict_shapes_and_types(tiny_config, nuclei_images):
    images, _ = nuclei_images
    model = IGTT(tiny_config).fit(images)
    masks = model.predict(images)
    assert isinstance(masks, list) and [m.shape for m in masks] == [im.shape for im in images]
    assert all(m.dtype == bool for m in masks)
    proba = model.predict_proba(images[0])
    assert proba.shape == images[0].shape and proba.dtype == np.float32
    assert 0 <= proba.min() and proba.max() <= 1
    stack = model.predict(np.stack(images))
    assert stack.shape == (3, 96, 96)


def test_progress_events_and_early_stop(tiny_config, nuclei_images):
    images, _ = nuclei_images
    model = IGTT(tiny_config.replace(epochs=5))
    events = []
    for event in model.iter_fit(images, preview=True):
        events.append(event)
        if event.epoch == 2:
            break  # a Stop button: the network trained so far is kept
    assert [e.epoch for e in events] == [1, 2]
    assert events[0].n_epochs == 5 and np.isfinite(events[0].loss) and events[1].seconds >= events[0].seconds
    assert events[0].labels.shape == images[0].shape and set(np.unique(events[0].labels)) <= {0, 1, 2}
    assert events[0].prediction.shape == images[0].shape
    assert model.predict(images[0]).shape == images[0].shape


def test_same_seed_same_masks_other_seed_other_weights(tiny_config, nuclei_images):
    images, _ = nuclei_images
    a = IGTT(tiny_config).fit(images)
    b = IGTT(tiny_config).fit(images)
    c = IGTT(tiny_config.replace(seed=1)).fit(images)
    assert all((x == y).all() for x, y in zip(a.predict_proba(images), b.predict_proba(images)))
    assert not np.allclose(a.predict_proba(images[0]), c.predict_proba(images[0]))


def test_fit_leaves_global_rng_alone(tiny_config, nuclei_images):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    IGTT(tiny_config).fit(nuclei_images[0][:1])
    assert torch.equal(torch.rand(3), expected)


def test_save_load_predicts_identically(tmp_path, tiny_config, nuclei_images):
    images, _ = nuclei_images
    model = IGTT(tiny_config.replace(foreground="auto")).fit(images)
    path = model.save(tmp_path / "sub" / "m.igtt")
    loaded = IGTT.load(path)
    assert loaded.config == model.config and loaded.foreground_ == "bright"
    assert np.array_equal(loaded.predict_proba(images[1]), model.predict_proba(images[1]))
    assert not list(path.parent.glob(TEMP_PREFIX + "*"))  # no temporary file left behind


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "x.igtt"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="x.igtt"):
        IGTT.load(bad)
    torch.save({"a": 1}, tmp_path / "y.pt")
    with pytest.raises(ValueError, match="not an igtt model"):
        IGTT.load(tmp_path / "y.pt")


def test_inputs_are_never_modified(tiny_config, nuclei_images):
    images = [im.astype(np.float32) for im in nuclei_images[0]]
    copies = [im.copy() for im in images]
    model = IGTT(tiny_config.replace(foreground="dark")).fit(images)
    model.predict(images)
    assert all(np.array_equal(a, b) for a, b in zip(images, copies))


def test_unfitted_model_says_so():
    with pytest.raises(RuntimeError, match="fit"):
        IGTT().predict(np.zeros((8, 8)))


def test_constant_image_gives_empty_mask_without_failing_the_set(tiny_config, nuclei_images):
    images, _ = nuclei_images
    mixed = [images[0], np.full((40, 50), 7, np.uint16), images[1]]
    masks = IGTT(tiny_config).fit(mixed).predict(mixed)
    assert masks[1].shape == (40, 50) and not masks[1].any()
    all_constant = IGTT(tiny_config).fit([np.zeros((20, 20))]).predict(np.zeros((20, 20)))
    assert not all_constant.any()


def test_images_smaller_than_the_crop_and_of_mixed_sizes(tiny_config):
    small = [make_nuclei((30, 41), n_nuclei=2, radius=(4, 6), rng=1)[0], make_nuclei((150, 70), rng=2)[0]]
    masks = IGTT(tiny_config).fit(small).predict(small)
    assert [m.shape for m in masks] == [(30, 41), (150, 70)]


@pytest.mark.parametrize("name", ["default", "paper", "paper-no-ems", "ems"])
def test_every_preset_never_returns_the_background_as_object(name, nuclei_images):
    images, truths = nuclei_images
    dark = [im.max() - im for im in images]
    config = preset(name, **{**TINY, "epochs": 2})
    for imgs, fg in ((images, "bright"), (dark, "dark")):
        masks = segment(imgs, foreground=fg, seed=0, device="cpu", config=config)
        for image, mask, truth in zip(imgs, masks, truths):
            assert not mask.all()
            if name in ("default", "ems"):  # the paper's all-background start may find nothing in two epochs
                assert mask.any()
            if mask.any():  # the mask covers the object side: inside it, more true objects than outside
                assert truth[mask].mean() > truth[~mask].mean()


def dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def test_training_adds_to_its_start_on_synthetic_nuclei(nuclei_images):
    from igtt.starts.images import orient
    from igtt.starts.start import start_labels

    images, truths = nuclei_images
    config = Config(**{**TINY, "epochs": 12, "steps_per_epoch": 10, "crop_size": 96, "decoder_channels": (16, 16, 16)})
    model = IGTT(config).fit(images)
    trained = np.mean([dice(m, t) for m, t in zip(model.predict(images), truths)])
    starts = [start_labels(o, kind=model.objects_, size=model.object_size_).mask for o in orient(images, "bright")[0]]
    start = np.mean([dice(m, t) for m, t in zip(starts, truths)])
    assert trained > start + 0.02, (trained, start)  # the start alone ~0.92 here, the trained network ~0.97


def test_dark_filaments_are_found_on_their_side(tiny_config):
    """The dark polarity path; the kind is given (on one small image ``auto`` takes filaments for blobs: issue #22)."""
    image, truth = make_filaments((96, 96), dark=True, rng=0)
    mask = segment(image, foreground="dark", objects="lines", config=tiny_config)
    assert mask.shape == truth.shape and mask.any() and not mask.all()
    assert truth[mask].mean() > 2 * truth[~mask].mean()


def test_segment_keeps_the_settings_of_its_config(monkeypatch):
    import igtt.api

    used = []

    class Recorded(IGTT):  # records the config segment() builds, trains nothing
        def fit(self, images, **kwargs):
            used.append(self.config)
            return self

        def predict(self, images, **kwargs):
            return None

    monkeypatch.setattr(igtt.api, "IGTT", Recorded)
    config = Config(foreground="dark", seed=3, device="cpu", epochs=4)
    segment(np.zeros((8, 8)), config=config)
    assert used[-1] == config  # nothing of it replaced by segment's own defaults
    segment(np.zeros((8, 8)), config=config, foreground="bright", epochs=1)
    assert used[-1] == config.replace(foreground="bright", epochs=1)  # what is given replaces the config's
    segment(np.zeros((8, 8)))
    assert used[-1] == preset("default")


def test_a_model_file_of_format_2_loads_and_predicts_as_it_did():
    """tests/data/format2_model.igtt was saved by igtt at commit 7f47ab5^ (model format 2, every encoder stage kept)."""
    from PIL import Image

    data = Path(__file__).parent / "data"
    model = IGTT.load(data / "format2_model.igtt", device="cpu")
    assert (model.foreground_, model.objects_) == ("bright", "blobs") and model.object_size_ == pytest.approx(16.51, abs=0.01)
    then = np.asarray(Image.open(data / "format2_mask.png")) > 0
    now = model.predict(make_nuclei((96, 96), n_nuclei=6, radius=(6, 10), rng=1)[0], check=False)  # the network's own mask
    assert then.any() and (now == then).mean() > 0.99  # folded BatchNorm and newer libraries move a few edge pixels


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="foreground"):
        Config(foreground="light")
    with pytest.raises(ValueError, match="p_sample"):
        Config(p_sample=0)
    with pytest.raises(ValueError, match="mask_threshold"):
        Config(mask_threshold="otsu")
    with pytest.raises(ValueError, match="unknown preset"):
        preset("fastest")
    with pytest.raises(TypeError, match="unknown Config field"):
        Config().replace(epoch=3)
    with pytest.raises(ValueError, match="encoder"):
        IGTT(Config(encoder="no-such-net")).fit([np.random.rand(32, 32)])


def test_config_round_trip_and_public_api():
    config = preset("paper")
    assert Config.from_dict(config.to_dict()) == config
    assert config.start == "black" and config.p_sample == 0.1 and config.n_thresholds == 30
    assert set(igtt.__all__) >= {"segment", "IGTT", "Config", "preset", "Progress"}


def test_device_resolution():
    from igtt.nn.network import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")

