"""``igtt patterns``: what trained networks respond to (feature patterns, difference images)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..io.files import ImageReadError, read_image
from .options import OUT, App, Device, DeviceOpt, OverwriteOpt, QuietOpt, SeedOpt, check_folder, err, fail, plan_outputs

app = App()


@app.command(
    rich_help_panel="Study tools",
    epilog="Example:\n\n  igtt patterns cell.tif --model study/models/CL.igtt --model study/models/PCL_erode.igtt --out patterns/",
)
def patterns(
    image: Annotated[Path, typer.Argument(help="The image fed to the networks.", show_default=False)],
    model: Annotated[list[Path], typer.Option("--model", "-m", help="A saved .igtt model; give several to compare.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the figures.", rich_help_panel=OUT)] = Path("patterns"),
    top: Annotated[int, typer.Option(min=1, help="How many top channels to synthesise.")] = 3,
    steps: Annotated[int, typer.Option(min=1, help="Gradient-ascent steps per pattern.")] = 100,
    blur: Annotated[float, typer.Option(min=0, help="Smooth the pattern every 2nd step (Gaussian s.d., pixels); 0 = plain ascent.")] = 1.0,
    size: Annotated[int, typer.Option(min=32, help="Side of the synthesised patterns.")] = 128,
    channel: Annotated[Optional[int], typer.Option(help="Channel for RGB images.")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = Device.cpu,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
):
    """Feature patterns (papers' Algorithm 1) and difference images of trained networks.

    For each model: the mean activation of every channel of the penultimate
    layer for IMAGE, and a pattern synthesised by gradient ascent for each
    of the top channels (<model>_patterns.png). With several models, also
    the difference of each model's mask from the first one's
    (differences.png: +1 only in the first, -1 only in the other).
    """
    try:
        raw = read_image(image, channel=channel)
    except ImageReadError as exc:
        fail(str(exc))
    if raw.ndim != 2:
        fail(f"{image}: patterns need one 2D image, got shape {raw.shape}")
    planned = [(out / f"{path.stem}_patterns.png", path) for path in model] + [(out / "differences.png", "the comparison")] * (len(model) > 1)
    plan_outputs(planned, inputs=[image, *model], overwrite=overwrite)
    check_folder(out, figures=True)
    from ..model import IGTT
    from ..starts.images import intensity_range, rescale
    from ..study.feature_patterns import difference_image, patterns_for
    from ..study.plots import difference_figure, patterns_figure

    masks = {}
    for path in model:
        try:
            m = IGTT.load(path, device=device.value)
        except (ValueError, FileNotFoundError, OSError) as exc:
            fail(f"{path}: cannot load model ({exc})")
        scaled = rescale(raw, *intensity_range(raw), invert=m.foreground_ == "dark")
        chosen, activations, pats = patterns_for(m.net, scaled, top, shape=(size, size), steps=steps, blur=blur, seed=seed)
        written = patterns_figure(activations, chosen, pats, out / f"{path.stem}_patterns.png", title=path.stem)
        masks[path.stem] = m.predict(raw)
        if not quiet:
            err.print(f"{escape(path.name)}: top channels {chosen}; wrote {escape(str(written))}", highlight=False)
    if len(masks) > 1:
        first, *others = masks
        diffs = {f"{first} − {name}": difference_image(masks[first], masks[name]) for name in others}
        written = difference_figure(diffs, out / "differences.png")
        if not quiet:
            err.print(f"wrote {escape(str(written))}", highlight=False)
