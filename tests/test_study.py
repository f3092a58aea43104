import numpy as np
import pytest
import tifffile
import torch
from typer.testing import CliRunner

import igtt
from igtt.cli import app
from igtt.nn.losses import masked_bce, masked_cross_entropy
from igtt.study.feature_patterns import difference_image, synthesize_pattern, top_channels
from igtt.study.runner import run_study
from igtt.study.specs import parse_spec
from igtt.study.supervised import train_supervised
from igtt.io.synthetic import make_nuclei

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def small_config(**changes):
    return igtt.Config(encoder="resnet18", epochs=2, steps_per_epoch=4, batch_size=2, crop_size=64, tile_size=128, tile_overlap=16, device="cpu", **changes)


@pytest.fixture(scope="module")
def nuclei_set():
    pairs = [make_nuclei((96, 96), n_nuclei=6, radius=(6, 10), rng=i) for i in range(6)]
    return [p[0] for p in pairs], [p[1].astype(np.uint8) for p in pairs]


@pytest.mark.parametrize(
    "text, kind, dynamic, has_ntm",
    [
        ("CL", "CL", False, False),
        ("RCL:flip=0.45", "RCL", False, True),
        ("RCL:p10=0.7,p01=0.3,dynamic", "RCL", True, True),
        ("RCL:ntm=0.5,0.3,0.2;0.2,0.6,0.2;0.3,0.1,0.6", "RCL", False, True),
        ("RCL:sample=0.1", "RCL", False, False),
        ("pcl:erode=2", "PCL", False, False),
        ("RL:0.5", "RL", False, True),
    ],
)
def test_label_specs_parse(text, kind, dynamic, has_ntm):
    spec = parse_spec(text)
    assert (spec.kind, spec.dynamic, spec.ntm(3 if "ntm=" in text else 2) is not None) == (kind, dynamic, has_ntm)


@pytest.mark.parametrize("text", ["XL", "CL:0.1", "RCL", "RCL:flip=2", "RCL:p10=0.5,p01=x", "PCL:open", "PCL:dilate,dynamic", "RL:"])
def test_bad_label_specs_say_what_is_wrong(text):
    with pytest.raises(ValueError, match="label spec"):
        parse_spec(text)


def test_ignored_pixels_do_not_change_the_losses():
    logits = torch.randn(2, 1, 8, 8)
    y = (torch.rand(2, 1, 8, 8) > 0.5).float()
    w = (torch.rand(2, 1, 8, 8) > 0.3).float()
    flipped = torch.where(w > 0, y, 1 - y)
    assert masked_bce(logits, y, w) == pytest.approx(masked_bce(logits, flipped, w).item())
    assert masked_bce(logits, y, w) != pytest.approx(masked_bce(logits, flipped, torch.ones_like(w)).item())
    logits3, y3 = torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8)).float()
    other = torch.where(w[:, 0] > 0, y3, (y3 + 1) % 3)
    assert masked_cross_entropy(logits3, y3, w[:, 0]) == pytest.approx(masked_cross_entropy(logits3, other, w[:, 0]).item())


def test_a_tiny_study_ranks_clean_labels_above_random_ones(nuclei_set, tmp_path):
    images, masks = nuclei_set
    specs = [parse_spec(t) for t in ("CL", "RCL:sample=0.3", "PCL:erode", "RL:0.5")]
    results = run_study(images, masks, specs, config=small_config(), out=tmp_path)
    by = {r.spec.text: r for r in results}
    assert all(len(r.dice) == 2 for r in results)
    assert by["CL"].dice[-1] > by["RL:0.5"].dice[-1] + 0.1
    assert (by["RL:0.5"].rank, by["RL:0.5"].min_crd) == (1, 0.0)
    assert by["PCL:erode"].noisy_fraction > 0 and by["CL"].noisy_fraction == 0
    for name in ("results.csv", "results.md", "curves.png", "labels.png", "differences.png", "models/CL.igtt"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "| CL |" in (tmp_path / "results.md").read_text()
    # a study model is an ordinary igtt model
    assert igtt.IGTT.load(tmp_path / "models" / "RL_0.5.igtt").predict(images[0]).shape == images[0].shape


def test_multiclass_deeplabv3plus_trains_and_scores_every_class():
    images, labels = [], []
    for i in range(3):
        image, nuclei = make_nuclei((64, 64), n_nuclei=4, radius=(5, 8), rng=i)
        classes = nuclei.astype(np.uint8)
        classes[:, :8] = 2  # a dark band as a third class
        image = image.copy()
        image[:, :8] = 0
        images.append(image)
        labels.append((classes, None))
    net, history = train_supervised(
        images, labels, n_classes=3, architecture="deeplabv3plus", config=small_config(),
        test_images=images[:1], test_labels=[labels[0][0]],
    )
    assert len(history) == 2 and len(history[-1].per_class_iou) == 3
    assert all(0 <= v <= 1 for v in history[-1].per_class_iou) and np.isfinite(history[-1].loss)


def test_synthesised_pattern_activates_its_channel_more_than_noise():
    from igtt.nn.network import build_unet
    from igtt.study.feature_patterns import channel_activations

    torch.manual_seed(0)
    net = build_unet(decoder_channels=(8, 8, 8))
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    top, activations = top_channels(net, image, 2)
    assert len(top) == 2 and activations[top[0]] == activations.max()
    pattern = synthesize_pattern(net, top[0], shape=(64, 64), steps=20)
    assert pattern.min() >= 0 and pattern.max() <= 1
    assert channel_activations(net, pattern)[top[0]] > channel_activations(net, image)[top[0]]


def test_difference_image_signs():
    a = np.array([[1, 1, 0, 0]], bool)
    b = np.array([[1, 0, 1, 0]], bool)
    assert difference_image(a, b).tolist() == [[0, 1, -1, 0]]


def write_pairs(root, images, masks):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, (image, mask) in enumerate(zip(images, masks)):
        tifffile.imwrite(root / "images" / f"n{i}.tif", image)
        tifffile.imwrite(root / "masks" / f"n{i}.tif", mask * 255)


def test_cli_noise_density_study_and_patterns(nuclei_set, tmp_path):
    images, masks = nuclei_set
    write_pairs(tmp_path / "data", images, masks)
    before = (tmp_path / "data" / "masks" / "n0.tif").read_bytes()

    result = runner.invoke(app, ["noise", str(tmp_path / "data" / "masks"), "--label", "RCL:sample=0.2", "--out", str(tmp_path / "noisy")])
    assert result.exit_code == 0, result.output
    noisy = tifffile.imread(tmp_path / "noisy" / "n0.tif")
    valid = tifffile.imread(tmp_path / "noisy" / "n0_valid.tif")
    assert noisy.dtype == np.uint8 and set(np.unique(noisy)) <= {0, 255} and (valid[masks[0] == 0] == 255).all()
    assert (tmp_path / "data" / "masks" / "n0.tif").read_bytes() == before

    result = runner.invoke(app, ["density", str(tmp_path / "noisy" / "n0.tif"), "--h", "4", "--example", "--out", str(tmp_path / "dens")])
    assert result.exit_code == 0, result.output
    assert tifffile.imread(tmp_path / "dens" / "n0_density.tif").shape == (2, 96, 96)
    assert (tmp_path / "dens" / "figure10.png").read_bytes()[:8] == PNG

    result = runner.invoke(app, [
        "study", "noise", str(tmp_path / "data"), "--labels", "CL", "RL:0.5,dynamic", "--epochs", "1", "--steps", "2",
        "--batch", "2", "--crop", "64", "--device", "cpu", "--out", str(tmp_path / "study"), "--quiet",
    ])
    assert result.exit_code == 0, result.output
    assert "RL:0.5,dynamic" in (tmp_path / "study" / "results.csv").read_text()

    models = sorted((tmp_path / "study" / "models").glob("*.igtt"))
    args = ["patterns", str(tmp_path / "data" / "images" / "n0.tif"), "--top", "2", "--steps", "3", "--size", "32"]
    result = runner.invoke(app, args + [x for m in models for x in ("--model", str(m))] + ["--out", str(tmp_path / "pat")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pat" / "CL_patterns.png").read_bytes()[:8] == PNG
    assert (tmp_path / "pat" / "differences.png").exists()


def test_cli_study_errors_are_one_line(tmp_path):
    result = runner.invoke(app, ["study", "noise", str(tmp_path), "--labels", "RCL:flip=3"])
    assert result.exit_code == 1 and "label spec 'RCL:flip=3'" in result.output
    result = runner.invoke(app, ["study", "noise", str(tmp_path / "nowhere"), "--labels", "CL"])
    assert result.exit_code == 1 and "nowhere" in result.output
    result = runner.invoke(app, ["density", "--out", str(tmp_path / "d")])
    assert result.exit_code == 1 and "--example" in result.output


def test_cli_noise_skips_a_corrupt_label_file_in_one_line(tmp_path):
    (tmp_path / "m").mkdir()
    tifffile.imwrite(tmp_path / "m" / "good.tif", (make_nuclei((40, 40), n_nuclei=2, rng=0)[1] * 255).astype(np.uint8))
    (tmp_path / "m" / "bad.tif").write_bytes(b"not a tiff")
    result = runner.invoke(app, ["noise", str(tmp_path / "m"), "--label", "PCL:dilate", "--out", str(tmp_path / "o"), "--quiet"])
    assert result.exit_code == 1 and "bad.tif" in result.output
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["good.tif"]


def test_study_noise_skips_a_pair_it_cannot_read_in_one_line(nuclei_set, tmp_path):
    images, masks = nuclei_set
    write_pairs(tmp_path / "data", images[:3], masks[:3])
    (tmp_path / "data" / "images" / "n9.tif").write_bytes(b"not a tiff")
    tifffile.imwrite(tmp_path / "data" / "masks" / "n9.tif", masks[0] * 255)
    result = runner.invoke(app, [
        "study", "noise", str(tmp_path / "data"), "--labels", "CL", "--epochs", "1", "--steps", "1",
        "--batch", "2", "--crop", "64", "--device", "cpu", "--out", str(tmp_path / "study"), "--quiet",
    ])
    named = [line for line in result.output.splitlines() if "n9.tif" in line]
    assert result.exit_code == 1 and len(named) == 1 and named[0].startswith("Failed"), result.output
    assert "CL" in (tmp_path / "study" / "results.csv").read_text()  # the study went on without it


def test_the_study_runs_with_its_default_config(nuclei_set, monkeypatch):
    """``run_study`` without a config: the papers' ResNet U-Net for STUDY_EPOCHS epochs (no epochs=None to trip on)."""
    import igtt.study.runner as runner_module
    from igtt.study.supervised import STUDY_EPOCHS, iter_train

    from .conftest import TINY

    images, masks = nuclei_set
    with pytest.raises(ValueError, match="epochs must be set"):
        next(iter_train(images[:1], [(masks[0], None)], config=igtt.Config()))
    chosen = []

    def shrunk(**fields):  # the runner's default config, made small enough to run in seconds
        chosen.append(fields)
        return igtt.Config(**{**fields, **TINY, "epochs": 1})

    monkeypatch.setattr(runner_module, "Config", shrunk)
    results = run_study(images[:3], masks[:3], [parse_spec("CL")])
    assert chosen == [{"encoder": "resnet18", "epochs": STUDY_EPOCHS}] and len(results[0].dice) == 1
