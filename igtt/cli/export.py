"""``igtt export``: a saved model as a BioImage.IO model package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from .options import App, OverwriteOpt, QuietOpt, err, fail, plan_outputs

app = App()


@app.command(epilog="Example:\n\n  igtt export nuclei.igtt --bioimageio nuclei.zip --sample tiffs/cells_01.tif --author 'Ada Lovelace'")
def export(
    model: Annotated[Path, typer.Argument(help="A model saved by igtt segment --save-model or igtt train.")],
    bioimageio: Annotated[Path, typer.Option("--bioimageio", help="Write a BioImage.IO model package (.zip) here.")],
    sample: Annotated[
        Optional[Path],
        typer.Option(help="An image like the training images: its centre becomes the package's test input and cover "
                          "(default: a synthetic image of the model's kind)."),
    ] = None,
    channel: Annotated[Optional[int], typer.Option(help="Channel of the sample to use (multi-channel images).")] = None,
    name: Annotated[Optional[str], typer.Option(help="The package's name (default: from the file name).")] = None,
    author: Annotated[Optional[list[str]], typer.Option(help="An author's name; repeat for several (default: your login name).")] = None,
    license: Annotated[str, typer.Option(help="SPDX licence identifier of the package.")] = "CC-BY-4.0",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
):
    """Export a saved model as a BioImage.IO model package, to run in bioimageio.core, deepImageJ or ilastik."""
    if bioimageio.suffix.lower() != ".zip":
        fail(f"{bioimageio}: a BioImage.IO package is a .zip file; give a name ending in .zip")
    plan_outputs([(bioimageio, "--bioimageio")], inputs=[p for p in (model, sample) if p is not None], overwrite=overwrite)
    from ..io.files import ImageReadError, read_image
    from ..io.zoo import export_bioimageio, require_bioimageio
    from ..model import IGTT

    try:
        require_bioimageio()
    except ImportError as exc:
        fail(str(exc))
    try:
        trained = IGTT.load(model, device="cpu")
    except (ValueError, FileNotFoundError, OSError) as exc:
        fail(f"{model}: cannot load model ({exc})")
    image = None
    if sample is not None:
        try:
            image = read_image(sample, channel=channel)
        except (ImageReadError, FileNotFoundError, ValueError) as exc:
            fail(str(exc) if str(sample) in str(exc) else f"{sample}: {exc}")
        if image.ndim != 2:
            fail(f"{sample}: the sample must be one 2-D image, got shape {image.shape}")
    try:
        export_bioimageio(trained, bioimageio, sample=image, name=name, authors=author, license=license)
    except ValueError as exc:
        fail(f"{bioimageio}: {exc}".replace("\n", " "))
    if not quiet:
        err.print(f"wrote {escape(str(bioimageio))}", highlight=False)
