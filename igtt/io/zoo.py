"""Export a fitted model as a BioImage.IO model package, so other tools (bioimageio.core, deepImageJ, ilastik) run it.

Needs the ``bioimageio`` extra (``pip install 'igtt[bioimageio]'``). The
package holds the U-Net weights (pytorch_state_dict, with
:mod:`igtt.nn.zoo_net` as its architecture), the input scaling as standard
preprocessing (percentiles 0.5-99.8, clip, inverted for dark objects), a test
input and the output igtt computed for it, a cover image, a README and the
citation of the method. It gives the foreground probability; igtt's own
``predict`` then thresholds at 0.5, fills small holes and blanks the area
outside a field of view, which the package leaves to the tool that runs it.
"""

from __future__ import annotations

import getpass
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..starts.background import background_scale
from ..starts.images import RANGE_PERCENTILES, intensity_range, rescale
from .outputs import atomic_path
from ..nn.network_input import GAIN_PERCENTILE
from .synthetic import make_filaments, make_nuclei
from ..nn import zoo_net
from ..nn.zoo_net import IGTTNet

__all__ = ["export_bioimageio", "zoo_network", "require_bioimageio", "sample_image", "package_input", "package_output", "describe"]

_PAPER = "https://arxiv.org/abs/2205.00160"
_SIDE = 256  # test tensors: the centre of the sample, at most this many pixels a side, a multiple of 32


def require_bioimageio():
    """Import bioimageio.spec and bioimageio.core, or stop with the pip command that installs them."""
    try:
        import bioimageio.core  # noqa: F401
        import bioimageio.spec  # noqa: F401
    except ImportError:
        raise ImportError("BioImage.IO export needs the bioimageio extra: pip install 'igtt[bioimageio]'") from None


def zoo_network(model) -> IGTTNet:
    """The fitted ``model``'s network as :class:`igtt.nn.zoo_net.IGTTNet`: same weights, input steps in torch, on the CPU."""
    net = IGTTNet(**_net_kwargs(model))
    net.unet.load_state_dict({k: v.detach().cpu() for k, v in model.net.state_dict().items()})
    return net.eval()


def _net_kwargs(model) -> dict:
    c = model.config.for_kind(model.objects_)
    background = None
    if c.subtract_background and model.object_size_:
        factor, radius = background_scale(model.object_size_)
        background = {"factor": factor, "radius": radius, "percentile": GAIN_PERCENTILE}
    return {
        "encoder": c.encoder,
        "encoder_depth": c.encoder_depth,
        "decoder_channels": list(c.decoder_channels),
        "background": background,
    }


def sample_image(model, seed: int = 0) -> np.ndarray:
    """A synthetic image of the model's kind, polarity and object size, for the package's test tensors and cover."""
    dark = model.foreground_ == "dark"
    size = model.object_size_ or 20.0
    if model.objects_ == "lines":
        return make_filaments((_SIDE, _SIDE), width=max(1.0, size), dark=dark, rng=seed)[0]
    radius = (0.35 * size, 0.6 * size)
    n = int(np.clip(0.25 * _SIDE**2 / (np.pi * (0.5 * size) ** 2), 3, 200))
    return make_nuclei((_SIDE, _SIDE), n_nuclei=n, radius=radius, dark=dark, rng=seed)[0]


def package_input(image: np.ndarray) -> np.ndarray:
    """The centre of a 2-D ``image``, at most 256 px a side, cut to a multiple of 32 (at least 64): (1, 1, y, x) float32."""
    image = np.asarray(image)
    if image.ndim != 2 or min(image.shape) < 64:
        raise ValueError(f"the sample must be a 2-D image of at least 64 x 64 pixels, got shape {image.shape}")
    sides = [min(_SIDE, n // 32 * 32) for n in image.shape]
    top, left = ((n - s) // 2 for n, s in zip(image.shape, sides))
    return image[top : top + sides[0], left : left + sides[1]].astype(np.float32)[None, None]


def package_output(model, raw: np.ndarray, net: IGTTNet | None = None) -> np.ndarray:
    """What the package gives for ``raw`` (1, 1, y, x): igtt's scaling, then :class:`IGTTNet` (``net``, if built), computed here."""
    lo, hi = intensity_range(raw[0, 0], sparse=False)  # the percentiles the package declares
    x = rescale(raw[0, 0], lo, hi, invert=model.foreground_ == "dark")
    with torch.no_grad():
        return (net or zoo_network(model))(torch.from_numpy(x)[None, None]).numpy()


def export_bioimageio(model, path, *, sample: np.ndarray | None = None, name: str | None = None,
                      authors: list[str] | None = None, license: str = "CC-BY-4.0", test: bool = True) -> Path:
    """Write a BioImage.IO model package (.zip) of the fitted ``model`` to ``path``, atomically; return the path.

    Parameters
    ----------
    sample : (M, N) ndarray, optional
        An image like the ones the model was trained on (its centre becomes
        the test input and the cover); default a synthetic image of the
        model's kind, polarity and object size.
    name, authors, license :
        The package's name (default from the file name), its authors (default
        the user's login name) and licence (an SPDX identifier).
    test : bool
        Run bioimageio.core's model test on the package before it takes its
        name (needs bioimageio.core); a package that fails is not written.

    Raises
    ------
    ValueError
        The sample is not a 2-D image of at least 64 x 64 pixels, or the
        package fails the test (the message gives the test's first error).
    """
    require_bioimageio()
    from bioimageio.spec import save_bioimageio_package

    path = Path(path)
    raw = package_input(sample_image(model) if sample is None else sample)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.save(tmp / "test_input.npy", raw)
        net = zoo_network(model)
        proba = package_output(model, raw, net)
        np.save(tmp / "test_output.npy", proba)
        torch.save(net.state_dict(), tmp / "weights.pt")
        _write_cover(tmp / "cover.png", raw[0, 0], proba[0, 0])
        (tmp / "environment.yaml").write_text(_ENVIRONMENT)
        descr = describe(model, tmp, name=name or f"igtt {model.objects_} model {path.stem}"[:128], authors=authors or [_user()], license=license)
        with atomic_path(path) as part:
            save_bioimageio_package(descr, output_path=part)
            if test:
                _test(part)
    return path


def describe(model, folder: Path, *, name: str, authors: list[str], license: str):
    """The bioimageio.spec ModelDescr (format 0.5) of ``model``, with the files written to ``folder``."""
    import bioimageio.spec.model.v0_5 as v

    from .. import __version__

    dark = model.foreground_ == "dark"
    preprocessing = [
        v.ScaleRangeDescr(kwargs=v.ScaleRangeKwargs(
            axes=[v.AxisId("y"), v.AxisId("x")], min_percentile=RANGE_PERCENTILES[0], max_percentile=RANGE_PERCENTILES[1])),
        v.ClipDescr(kwargs=v.ClipKwargs(min=0.0, max=1.0)),
    ]
    if dark:  # objects darker than their surroundings: the network sees them bright
        preprocessing.append(v.ScaleLinearDescr(kwargs=v.ScaleLinearKwargs(gain=-1.0, offset=1.0)))
    space = [v.SpaceInputAxis(id=v.AxisId(a), size=v.ParameterizedSize(min=64, step=32)) for a in "yx"]
    image = v.InputTensorDescr(
        id=v.TensorId("raw"),
        description="one grey-level image (for several channels, pick the one the model was trained on)",
        axes=[v.BatchAxis(), v.ChannelAxis(channel_names=[v.Identifier("grey")]), *space],
        test_tensor=v.FileDescr(source=folder / "test_input.npy"),
        data=v.IntervalOrRatioDataDescr(type="float32"),
        preprocessing=preprocessing,
    )
    same = [v.SpaceOutputAxis(id=v.AxisId(a), size=v.SizeReference(tensor_id=v.TensorId("raw"), axis_id=v.AxisId(a))) for a in "yx"]
    probability = v.OutputTensorDescr(
        id=v.TensorId("probability"),
        description="foreground probability; igtt's masks are probability > 0.5",
        axes=[v.BatchAxis(), v.ChannelAxis(channel_names=[v.Identifier("foreground")]), *same],
        test_tensor=v.FileDescr(source=folder / "test_output.npy"),
        data=v.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)),
    )
    weights = v.WeightsDescr(
        pytorch_state_dict=v.PytorchStateDictWeightsDescr(
            source=folder / "weights.pt",
            architecture=v.ArchitectureFromFileDescr(
                source=Path(zoo_net.__file__), callable=v.Identifier("IGTTNet"), kwargs=_net_kwargs(model)
            ),
            pytorch_version=v.Version(torch.__version__.split("+")[0]),
            dependencies=v.FileDescr(source=folder / "environment.yaml"),
        )
    )
    (folder / "README.md").write_text(_readme(model, name, __version__))
    return v.ModelDescr(
        name=name,
        description=f"Segments {model.objects_} ({model.foreground_} objects) without annotation; trained with igtt {__version__}.",
        authors=[v.Author(name=a) for a in authors],
        cite=[v.CiteEntry(text="Luo, Liu, Guo, Yang: Elucidating meta-structures of noisy labels in semantic "
                               "segmentation by deep neural networks (iGTT)", url=v.HttpUrl(_PAPER))],
        license=v.LicenseId(license),
        documentation=v.FileDescr(source=folder / "README.md"),
        covers=[v.FileDescr(source=folder / "cover.png")],
        tags=["segmentation", "binary-segmentation", "unsupervised", "igtt", "2d", "pytorch", model.objects_],
        inputs=[image],
        outputs=[probability],
        weights=weights,
    )


def _test(package: Path) -> None:
    from bioimageio.core import test_model

    summary = test_model(str(package))
    if summary.status != "passed":
        first = summary.errors[0].msg if summary.errors else summary.status
        raise ValueError(f"the package fails bioimageio.core's test: {first}")


def _readme(model, name: str, version: str) -> str:
    c = model.config.for_kind(model.objects_)
    size = f"{model.object_size_:.1f} px" if model.object_size_ else "not used"
    background = "subtracted at the scale of the objects (inside the network's forward)" if c.subtract_background else "not subtracted"
    return f"""# {name}

A U-Net trained **without annotation** by [igtt](https://pypi.org/project/igtt/) {version}
(iterative ground-truth training, {_PAPER}).

- objects: {model.objects_}, {model.foreground_} on their background; typical size {size}
- network: smp U-Net, encoder {c.encoder}, depth {c.encoder_depth}, decoder {tuple(c.decoder_channels)}
- input: one grey-level image; scaled to [0, 1] between its 0.5 and 99.8 percentiles, clipped{", inverted" if model.foreground_ == "dark" else ""}; background {background}
- output: foreground probability. igtt's masks are probability > 0.5, with holes smaller than a
  typical object filled and the area outside a microscope's field of view removed; this package
  gives the probability only.

The model was trained on the images it was made for; on other images, check the result.
"""


def _write_cover(path: Path, image: np.ndarray, proba: np.ndarray) -> None:
    """Input and probability side by side, 8-bit grey (PNG, as the spec wants)."""
    import imageio.v3 as iio

    lo, hi = intensity_range(image)
    left = rescale(image, lo, hi)
    pair = np.concatenate([left, np.ones((left.shape[0], 4), np.float32), proba], axis=1)
    iio.imwrite(path, np.round(pair * 255).astype(np.uint8))


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers)
        return "igtt user"


_ENVIRONMENT = """name: igtt-model
channels:
  - conda-forge
  - pytorch
dependencies:
  - python>=3.10
  - pytorch>=2.1
  - pip
  - pip:
      - segmentation-models-pytorch>=0.3
"""
