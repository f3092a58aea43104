"""BioImage.IO export: the package passes bioimageio.core's model test and computes what igtt computes."""

import builtins
import zipfile

import numpy as np
import pytest

from igtt import IGTT, Config
from igtt.io.synthetic import make_filaments, make_nuclei

from .conftest import TINY
from .test_bad_inputs import invoke

pytest.importorskip("bioimageio.core")
yaml = pytest.importorskip("yaml")  # comes with bioimageio.spec
TINY_CONFIG = Config(**TINY)


@pytest.fixture(scope="module")
def nuclei_model():
    images = [make_nuclei((192, 192), n_nuclei=14, radius=(6, 10), rng=i)[0] for i in range(2)]
    return IGTT(TINY_CONFIG.replace(epochs=3, decoder_channels=(16, 8, 8))).fit(images)


def _run_package(path, image):
    from bioimageio.core import predict
    from bioimageio.spec.model.v0_5 import TensorId

    out = predict(model=str(path), inputs={TensorId("raw"): image.astype(np.float32)[None, None]})
    return np.asarray(out.members[TensorId("probability")].data)[0, 0]


def test_the_package_passes_bioimageio_core_and_matches_igtt_on_a_new_image(nuclei_model, tmp_path):
    from bioimageio.core import test_model

    from igtt.io.zoo import export_bioimageio

    path = export_bioimageio(nuclei_model, tmp_path / "nuclei.zip", authors=["A. Tester"])
    summary = test_model(str(path))
    assert summary.status == "passed", summary.format()
    image = make_nuclei((224, 288), n_nuclei=20, radius=(6, 10), rng=9)[0]  # another size than the test tensor
    theirs, ours = _run_package(path, image), nuclei_model.predict_proba(image)
    assert theirs.shape == image.shape
    _agree(theirs, ours)


def _agree(theirs, ours):
    """Near, not identical: the package computes in float32 and its background in torch, igtt in bfloat16 where
    the CPU has it and its background with scikit-image; a test-sized network is unsure (p near 0.5) on many pixels."""
    sure = np.abs(ours - 0.5) > 0.1
    assert np.abs(theirs - ours).mean() < 0.02
    assert sure.mean() > 0.3 and np.mean(((theirs > 0.5) == (ours > 0.5))[sure]) > 0.99


def test_dark_lines_export_with_inverted_scaling_and_no_background(tmp_path):
    from bioimageio.core import test_model

    from igtt.io.zoo import export_bioimageio

    images = [make_filaments((192, 192), dark=True, rng=i)[0] for i in range(2)]
    model = IGTT(TINY_CONFIG.replace(objects="lines", foreground="dark")).fit(images)
    path = export_bioimageio(model, tmp_path / "lines.zip")
    assert test_model(str(path)).status == "passed"
    rdf = yaml.safe_load(zipfile.ZipFile(path).read("rdf.yaml"))
    assert "scale_linear" in [step["id"] for step in rdf["inputs"][0]["preprocessing"]]
    assert rdf["weights"]["pytorch_state_dict"]["architecture"]["kwargs"]["background"] is None
    image = images[0][:160, :192]
    _agree(_run_package(path, image), model.predict_proba(image))


def test_cli_export_writes_a_package_and_refuses_to_write_over_files(nuclei_model, tmp_path):
    model_file = tmp_path / "m.igtt"
    nuclei_model.save(model_file)
    sample = tmp_path / "cells.tif"
    __import__("tifffile").imwrite(sample, make_nuclei((300, 260), n_nuclei=20, radius=(6, 10), rng=3)[0])
    out = tmp_path / "pkg.zip"
    result = invoke("export", model_file, "--bioimageio", out, "--sample", sample, "--author", "Ada")
    assert result.exit_code == 0, result.output
    names = zipfile.ZipFile(out).namelist()
    assert {"rdf.yaml", "weights.pt", "zoo_net.py", "cover.png", "test_input.npy", "test_output.npy"} <= set(names)
    again = invoke("export", model_file, "--bioimageio", out)
    assert again.exit_code == 1 and "exists" in again.output
    over_input = invoke("export", model_file, "--bioimageio", sample.with_suffix(".zip"), "--sample", model_file)
    assert over_input.exit_code == 1 and "m.igtt" in over_input.output
    not_zip = invoke("export", model_file, "--bioimageio", tmp_path / "pkg.tif")
    assert not_zip.exit_code == 1 and ".zip" in not_zip.output


def test_cli_export_names_the_extra_when_bioimageio_is_missing(nuclei_model, tmp_path, monkeypatch):
    model_file = tmp_path / "m.igtt"
    nuclei_model.save(model_file)
    real_import = builtins.__import__

    def no_bioimageio(name, *args, **kwargs):
        if name.startswith("bioimageio"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_bioimageio)
    result = invoke("export", model_file, "--bioimageio", tmp_path / "pkg.zip")
    assert result.exit_code == 1 and "pip install 'igtt[bioimageio]'" in result.output
    assert not (tmp_path / "pkg.zip").exists()
