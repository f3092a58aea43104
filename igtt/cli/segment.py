"""``igtt segment``, ``train`` and ``predict``: parse options, run the batch engine, render its events."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from .. import batch
from ..batch import review
from ..objects.table import SUMMARY, write_summary
from .show import check_first, render_run, show_objects, summary
from .options import (
    MAX_PIXELS,
    MODEL,
    OUT,
    App,
    ChannelOpt,
    DepthOpt,
    PixelSizeOpt,
    ZStepOpt,
    Device,
    DeviceOpt,
    EpochsOpt,
    Foreground,
    ForegroundOpt,
    InputsArg,
    LevelOpt,
    MaxPixelsOpt,
    ObjectSizeOpt,
    ObjectsOpt,
    OutOpt,
    OverwriteOpt,
    PatternOpt,
    Preset,
    PresetOpt,
    QuietOpt,
    RecursiveOpt,
    SchedulerOpt,
    SeedOpt,
    check_device,
    err,
    fail,
)

app = App()

ModelOpt = Annotated[Optional[Path], typer.Option("--model", help="Apply this saved model instead of training.", rich_help_panel=MODEL)]
HintsOpt = Annotated[
    Optional[Path],
    typer.Option(
        help="Folder of hint images named like the inputs, same shape: 0 no hint, 1 object, 2 background. "
        "Training follows them; with --model the model is refined on them first.",
        rich_help_panel=MODEL,
    ),
]
REFINE_EPOCHS = 5
REPORT = "report.csv"  # the quality report, beside the masks
ProbabilitiesOpt = Annotated[bool, typer.Option("--probabilities", help="Also write float32 maps <stem>_prob.tif.", rich_help_panel=OUT)]
LabelsOpt = Annotated[
    bool,
    typer.Option(
        "--labels", help="Also write <stem>_labels.tif (one id per object, touching blobs split apart) and objects_summary.csv.", rich_help_panel=OUT
    ),
]
MeasureOpt = Annotated[
    bool,
    typer.Option(
        "--measure",
        help="Also write <stem>_objects.csv: one row per object (area or volume, centroid, box, diameter, shape, intensity "
        "of every channel; for lines: skeleton length, branch and end points, width; in µm where the pixel size is known) "
        "and objects_summary.csv, one row per image.",
        rich_help_panel=OUT,
    ),
]
SkipOpt = Annotated[bool, typer.Option("--skip-existing", help="Leave inputs whose mask exists (resume a run).", rich_help_panel=OUT)]


def _config(preset: Preset, **changes):
    """The preset with the command line's settings; options left out keep the preset's."""
    from ..config import preset as make

    changes = {k: getattr(v, "value", v) for k, v in changes.items() if v is not None}
    try:
        return make(preset.value, **changes)
    except ValueError as exc:
        fail(str(exc))


def _load_model(path: Path, device: str):
    from ..model import IGTT

    try:
        return IGTT.load(path, device=device)
    except (ValueError, FileNotFoundError, OSError) as exc:
        fail(f"{path}: cannot load model ({exc})")


@app.command(
    epilog="Examples:\n\n  igtt segment ./tiffs --out masks\n\n"
    "  igtt segment 'data/**/*.tif' --recursive --foreground dark --out masks --probabilities\n\n"
    "  igtt segment new_images --model nuclei.igtt --out masks"
)
def segment(
    inputs: InputsArg,
    out: OutOpt,
    pattern: PatternOpt = None,
    recursive: RecursiveOpt = False,
    channel: ChannelOpt = None,
    depth: DepthOpt = None,
    pixel_size: PixelSizeOpt = None,
    z_step: ZStepOpt = None,
    level: LevelOpt = 0,
    max_pixels: MaxPixelsOpt = MAX_PIXELS,
    foreground: ForegroundOpt = Foreground.auto,
    preset: PresetOpt = Preset.default,
    objects: ObjectsOpt = None,
    object_size: ObjectSizeOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = 0,
    model: ModelOpt = None,
    hints: HintsOpt = None,
    save_model: Annotated[Optional[Path], typer.Option("--save-model", help="Also save the trained model here.", rich_help_panel=MODEL)] = None,
    probabilities: ProbabilitiesOpt = False,
    labels: LabelsOpt = False,
    measure: MeasureOpt = False,
    skip_existing: SkipOpt = False,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = Device.auto,
    scheduler: SchedulerOpt = None,
    quiet: QuietOpt = False,
):
    """Train on the input images, then write one mask per image (uint8, 0 and 255)."""
    try:
        batch.check_writable(out.parent if out.name.endswith(".zarr") else out)  # --out masks.ome.zarr: one store
        jobs = batch.collect(inputs, pattern=pattern, recursive=recursive, out=out)
        report = None if out.name.endswith(".zarr") else out / REPORT  # one store: no folder to put it beside
        pending, done = batch.plan(
            jobs, out, probabilities=probabilities, labels=labels, measure=measure, overwrite=overwrite, skip_existing=skip_existing,
            save_model=save_model, report=report,
        )
        painted = batch.hint_files(hints, jobs, pending) if hints is not None else None
        check_device(device)
        if scheduler is not None:  # before any training: the cluster must be there
            from ..batch.cluster import connect

            connect(scheduler).close()
    except batch.PlanError as exc:
        fail(str(exc))
    if not pending:
        if not quiet:
            err.print(f"All {len(jobs)} outputs exist already in {escape(str(out))}; nothing to do.")
        return
    if model is not None:
        trained, config = _load_model(model, device.value), None
    else:
        trained = None
        config = _config(preset, foreground=foreground, objects=objects, object_size=object_size, epochs=epochs, seed=seed, device=device)
    reading = dict(channel=channel, max_pixels=max_pixels, level=level, depth=depth, pixel_size=pixel_size, z_step=z_step)
    trains = trained is None or painted is not None
    # a folder of image files keeps its model and how it was made: igtt review / refine start from them (zarr stores: not yet)
    reviewable = report is not None and not any(job.is_zarr for job in jobs)
    kept = out / review.RUN_FOLDER / review.MODEL if reviewable and save_model is None and trains else None
    resumed = kept is not None and skip_existing and kept.is_file()  # trains the same model again: the first run's file stays
    events = batch.run(
        pending,
        config=config,
        model=trained,
        reading=reading,
        probabilities=probabilities,
        save_model=save_model or (None if resumed else kept),
        train_on=jobs,  # every input, so a resumed run trains as the first did and gives the same masks
        scheduler=scheduler,
        hints=painted,
        refine=REFINE_EPOCHS if painted is not None and trained is not None else 0,
        report=report,
        resume=skip_existing,
    )
    ended = render_run(events, quiet, "Outputs written so far are complete; rerun with --skip-existing to resume.")
    if reviewable:
        used = (save_model or kept) if trains else model
        review.record_run(out, jobs, reading=reading, model=used, probabilities=probabilities, labels=labels, measure=measure)
    if report is not None and (labels or measure) and ended.objects:  # one row per image (plane, volume): objects_summary.csv
        write_summary(out / SUMMARY, ended.objects, keep_others=skip_existing)
    summary(quiet, len(jobs), ended, done)
    show_objects(quiet, ended.objects)
    check_first(quiet, ended.rows, report, ended.notes)
    if ended.skipped:
        raise typer.Exit(1)


@app.command(epilog="Example:\n\n  igtt train ./tiffs --save-model nuclei.igtt")
def train(
    inputs: InputsArg,
    save_model: Annotated[Path, typer.Option("--save-model", help="Where to save the model.", rich_help_panel=OUT)],
    pattern: PatternOpt = None,
    recursive: RecursiveOpt = False,
    channel: ChannelOpt = None,
    depth: DepthOpt = None,
    pixel_size: PixelSizeOpt = None,
    z_step: ZStepOpt = None,
    level: LevelOpt = 0,
    max_pixels: MaxPixelsOpt = MAX_PIXELS,
    foreground: ForegroundOpt = Foreground.auto,
    preset: PresetOpt = Preset.default,
    objects: ObjectsOpt = None,
    object_size: ObjectSizeOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = 0,
    hints: HintsOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing model file.", rich_help_panel=OUT)] = False,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
):
    """Train a model on the input images and save it, without writing masks."""
    check_device(device)
    try:
        jobs = batch.collect(inputs, pattern=pattern, recursive=recursive)
        batch.check_model_target(save_model, jobs, overwrite)
        painted = batch.hint_files(hints, jobs) if hints is not None else None
    except batch.PlanError as exc:
        fail(str(exc))
    config = _config(preset, foreground=foreground, objects=objects, object_size=object_size, epochs=epochs, seed=seed, device=device)
    reading = dict(channel=channel, max_pixels=max_pixels, level=level, depth=depth, pixel_size=pixel_size, z_step=z_step)
    events = batch.run(jobs, config=config, reading=reading, predict=False, save_model=save_model, hints=painted)
    report = render_run(events, quiet, "No model was saved.")
    if not quiet:
        err.print(f"Saved model to {escape(str(save_model))}")
    summary(quiet, len(jobs), report, 0)
    if report.skipped:
        raise typer.Exit(1)


@app.command(epilog="Example:\n\n  igtt predict new_images --model nuclei.igtt --out masks")
def predict(
    inputs: InputsArg,
    model: Annotated[Path, typer.Option("--model", help="A model saved by train or segment.", rich_help_panel=MODEL)],
    out: OutOpt,
    pattern: PatternOpt = None,
    recursive: RecursiveOpt = False,
    channel: ChannelOpt = None,
    depth: DepthOpt = None,
    pixel_size: PixelSizeOpt = None,
    z_step: ZStepOpt = None,
    level: LevelOpt = 0,
    max_pixels: MaxPixelsOpt = MAX_PIXELS,
    probabilities: ProbabilitiesOpt = False,
    labels: LabelsOpt = False,
    measure: MeasureOpt = False,
    skip_existing: SkipOpt = False,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = Device.auto,
    scheduler: SchedulerOpt = None,
    quiet: QuietOpt = False,
):
    """Apply a saved model to images, without training."""
    segment(
        inputs,
        out=out,
        pattern=pattern,
        recursive=recursive,
        channel=channel,
        depth=depth,
        pixel_size=pixel_size,
        z_step=z_step,
        level=level,
        max_pixels=max_pixels,
        model=model,
        probabilities=probabilities,
        labels=labels,
        measure=measure,
        skip_existing=skip_existing,
        overwrite=overwrite,
        device=device,
        scheduler=scheduler,
        quiet=quiet,
    )
