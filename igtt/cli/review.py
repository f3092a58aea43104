"""``igtt review`` and ``igtt refine``: look at a results folder's flagged images, paint a few strokes, refine and rewrite it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..batch import PlanError, review
from .options import App, Device, DeviceOpt, QuietOpt, check_device, err, fail
from .show import check_first, render_run, show_objects, summary

app = App()

REVIEW_WIDGET = "iGTT review of a results folder"  # its display name in the plugin's manifest
ResultsArg = Annotated[Path, typer.Argument(help="A folder of results written by igtt segment (it holds igtt-run/).", show_default=False)]


@app.command("review", epilog="Example:\n\n  igtt review masks")
def review_folder(results: ResultsArg, device: DeviceOpt = Device.auto):
    """Open a results folder in napari, flagged images first: paint strokes where a mask is wrong, then Refine and rewrite."""
    try:
        review.load_run(results)
    except PlanError as exc:
        fail(str(exc))
    try:
        import napari
    except ImportError as exc:
        fail(
            f"igtt review needs napari ({exc}): pip install 'igtt[napari]'; without it, save hint images "
            f"(0 none, 1 object, 2 background) as {results / review.HINTS_FOLDER}/<name>.tif and run igtt refine {results}"
        )
    check_device(device)
    viewer = napari.Viewer(title=f"igtt review: {results}")
    _, widget = viewer.window.add_plugin_dock_widget("igtt", REVIEW_WIDGET)  # the plugin's, as napari finds it
    widget.open(results)
    napari.run()


@app.command(epilog="Example:\n\n  igtt refine masks")
def refine(
    results: ResultsArg,
    epochs: Annotated[int, typer.Option(min=1, max=1000, help="Epochs of the refine (6 batches each).")] = review.REFINE_EPOCHS,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
):
    """Refine the folder's model with the hint images in RESULTS/hints (0 none, 1 object, 2 background), then rewrite every output.

    What napari's "Refine and rewrite" does. The new masks, labels,
    measurements, report and model replace the old ones only once all are
    written.
    """
    check_device(device)
    try:
        run = review.load_run(results)
    except PlanError as exc:
        fail(str(exc))
    events = review.refine_folder(results, epochs=epochs, device=device.value)
    ended = render_run(events, quiet, f"{results} is as it was: nothing is replaced before every output is written.")
    summary(quiet, len(run.jobs), ended, 0)
    show_objects(quiet, ended.objects)
    check_first(quiet, ended.rows, run.report, ended.notes)
    if not quiet:
        err.print(f"Refined model saved to {escape(str(Path(results) / review.RUN_FOLDER / review.MODEL))}", highlight=False)
    if ended.skipped:
        raise typer.Exit(1)
