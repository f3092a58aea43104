"""The ``igtt`` command line: segment folders of microscopy images without labels.

A thin layer over the Python API (:mod:`igtt.model`): it reads files, renders
progress, writes results atomically and reports bad files in one line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .config import PRESETS
from .io import ImageReadError, check_target, find_images, read_image, write_tiff

app = typer.Typer(
    name="igtt",
    help="Segment microscopy images without any annotation (iterative ground-truth training).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)

Foreground = Enum("Foreground", {k: k for k in ("bright", "dark", "auto")}, type=str)
Device = Enum("Device", {k: k for k in ("auto", "cpu", "cuda", "mps")}, type=str)
Preset = Enum("Preset", {k: k for k in PRESETS}, type=str)

IN, MODEL, OUT, HW = "Input", "Model", "Output", "Hardware"

InputsArg = Annotated[list[str], typer.Argument(help="Image files, folders or globs.", show_default=False)]
PatternOpt = Annotated[
    Optional[str], typer.Option(help="File pattern inside folders, e.g. '*.tif' (default: common image types).", rich_help_panel=IN)
]
RecursiveOpt = Annotated[bool, typer.Option("--recursive", "-r", help="Include subfolders (mirrored in the output).", rich_help_panel=IN)]
ChannelOpt = Annotated[Optional[int], typer.Option(help="Channel to use for RGB or multi-channel images.", rich_help_panel=IN)]
ForegroundOpt = Annotated[Foreground, typer.Option(help="Objects are bright, dark, or guess.", rich_help_panel=MODEL)]
PresetOpt = Annotated[Preset, typer.Option(help="Settings preset: 'default' (fast, recommended) or the paper's.", rich_help_panel=MODEL)]
EpochsOpt = Annotated[Optional[int], typer.Option(min=1, help="Training epochs (default: the preset's).", rich_help_panel=MODEL)]
SeedOpt = Annotated[int, typer.Option(help="Random seed; the same seed gives the same masks.", rich_help_panel=MODEL)]
DeviceOpt = Annotated[Device, typer.Option(help="Where to compute; auto = CUDA, then MPS, then CPU.", rich_help_panel=HW)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")]


@dataclass
class Job:
    """One input file and where its results go."""

    path: Path
    relative: Path  # output path relative to --out, without suffix
    image: np.ndarray | None = None
    outputs: list[Path] = field(default_factory=list)


def _fail(message: str, code: int = 1):
    err.print(f"[red]Error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _collect(inputs: list[str], pattern: str | None, recursive: bool) -> list[Job]:
    jobs = []
    for item in inputs:
        root = Path(item)
        try:
            files = find_images([item], pattern=pattern, recursive=recursive)
        except FileNotFoundError as exc:
            _fail(str(exc))
        for f in files:
            rel = f.relative_to(root) if root.is_dir() else Path(f.name)
            jobs.append(Job(f, rel.with_suffix("")))
    if not jobs:
        _fail(f"no images found in {' '.join(inputs)} (pattern: {pattern or 'common image types'})")
    return jobs


def _read(jobs: list[Job], channel: int | None, quiet: bool) -> tuple[list[Job], list[tuple[Path, str]]]:
    good, failed = [], []
    for job in jobs:
        try:
            job.image = read_image(job.path, channel=channel)
        except ImageReadError as exc:
            failed.append((job.path, str(exc)))
            err.print(f"[yellow]Skipped[/yellow] {exc}", highlight=False)
            continue
        good.append(job)
    return good, failed


def _planes(jobs: list[Job]) -> list[np.ndarray]:
    return [plane for job in jobs for plane in (job.image if job.image.ndim == 3 else [job.image])]


def _check_target(path: Path, protected, overwrite: bool, kind: str = "output") -> None:
    try:
        check_target(path, protected=protected, overwrite=overwrite, kind=kind)
    except ValueError as exc:
        _fail(str(exc))


def _check_out_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".igtt-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        _fail(f"cannot write to output folder {out}: {exc.strerror or exc}")


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
        transient=False,
    )


def _train(images: list[np.ndarray], config, quiet: bool):
    from .model import IGTT

    model = IGTT(config)
    with _progress(quiet) as bar:
        task = bar.add_task("Training", total=config.epochs, info="")
        for event in model.iter_fit(images):
            bar.update(task, completed=event.epoch, info=f"loss {event.loss:.4f}")
    return model


def _read_and_train(jobs, channel, preset, foreground, epochs, seed, device, quiet):
    """Read every job (bad files reported and skipped), then train on all planes."""
    readable, failed = _read(jobs, channel, quiet)
    if not readable:
        _fail("none of the input images could be read")
    config = _config(preset.value, foreground.value, epochs, seed, device.value)
    return _train(_planes(readable), config, quiet), failed


def _config(preset_name: str, foreground: str, epochs, seed: int, device: str):
    from .config import preset

    changes = dict(foreground=foreground, seed=seed, device=device)
    if epochs is not None:
        changes["epochs"] = epochs
    try:
        return preset(preset_name, **changes)
    except ValueError as exc:
        _fail(str(exc))


def _load_model(path: Path, device: str):
    from .model import IGTT

    try:
        return IGTT.load(path, device=device)
    except (ValueError, FileNotFoundError, OSError) as exc:
        _fail(f"{path}: cannot load model ({exc})")


def _write(jobs, model, out, probabilities, labels, channel, failed, quiet) -> int:
    from scipy import ndimage as ndi

    written = 0
    with _progress(quiet) as bar:
        task = bar.add_task("Writing", total=len(jobs), info="")
        for job in jobs:
            if job.image is None:
                read, bad = _read([job], channel, quiet)
                failed.extend(bad)
                if not read:
                    bar.update(task, advance=1)
                    continue
            stack = job.image if job.image.ndim == 3 else job.image[None]
            if probabilities:
                masks, proba = model.predict(stack, return_proba=True)
            else:
                masks = model.predict(stack)
            squeeze = (lambda a: a[0]) if job.image.ndim == 2 else (lambda a: a)
            base = out / job.relative
            write_tiff(base.with_suffix(".tif"), squeeze(np.multiply(masks, 255, dtype=np.uint8)))
            if probabilities:
                write_tiff(base.parent / f"{base.name}_prob.tif", squeeze(proba.astype(np.float32)))
            if labels:
                inst = np.stack([ndi.label(m, output=np.uint32)[0] for m in masks])  # 4-connected
                write_tiff(base.parent / f"{base.name}_labels.tif", squeeze(inst))
            written += 1
            bar.update(task, advance=1, info=job.path.name)
            job.image = None  # free memory as we go
    return written


def _summary(quiet, n_images, written, skipped, failed, seconds):
    if quiet:
        return
    table = Table(title="igtt summary")
    for col in ("images", "written", "skipped", "failed", "seconds"):
        table.add_column(col, justify="right")
    table.add_row(str(n_images), str(written), str(skipped), str(len(failed)), f"{seconds:.1f}")
    err.print(table)
    for path, reason in failed:
        err.print(f"  failed: {reason}", highlight=False)


@app.command(
    epilog="Examples:\n\n  igtt segment ./tiffs --out masks\n\n"
    "  igtt segment 'data/**/*.tif' --recursive --foreground dark --out masks --probabilities\n\n"
    "  igtt segment new_images --model nuclei.igtt --out masks"
)
def segment(
    inputs: InputsArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the masks.", rich_help_panel=OUT)],
    pattern: PatternOpt = None,
    recursive: RecursiveOpt = False,
    channel: ChannelOpt = None,
    foreground: ForegroundOpt = Foreground.bright,
    preset: PresetOpt = Preset.default,
    epochs: EpochsOpt = None,
    seed: SeedOpt = 0,
    model: Annotated[
        Optional[Path], typer.Option("--model", help="Apply this saved model instead of training.", rich_help_panel=MODEL)
    ] = None,
    save_model: Annotated[
        Optional[Path], typer.Option("--save-model", help="Also save the trained model here.", rich_help_panel=MODEL)
    ] = None,
    probabilities: Annotated[
        bool, typer.Option("--probabilities", help="Also write float32 maps <stem>_prob.tif.", rich_help_panel=OUT)
    ] = False,
    labels: Annotated[
        bool, typer.Option("--labels", help="Also write instance labels <stem>_labels.tif.", rich_help_panel=OUT)
    ] = False,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Leave inputs whose mask exists (resume a run).", rich_help_panel=OUT)
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.", rich_help_panel=OUT)] = False,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
):
    """Train on the input images, then write one mask per image (uint8, 0 and 255)."""
    t0 = time.perf_counter()
    _check_out_dir(out)
    jobs = _collect(inputs, pattern, recursive)
    inputs_resolved = {job.path.resolve() for job in jobs}
    if save_model is not None:
        _check_target(save_model, inputs_resolved, overwrite, kind="model")
    pending, skipped = [], 0
    for job in jobs:
        base = out / job.relative
        job.outputs = [base.with_suffix(".tif")]
        job.outputs += [base.parent / f"{base.name}_prob.tif"] if probabilities else []
        job.outputs += [base.parent / f"{base.name}_labels.tif"] if labels else []
        clash = [p for p in job.outputs if p.resolve() in inputs_resolved]
        if clash:
            _fail(f"{clash[0]}: output would overwrite an input; choose another --out")
        if all(p.exists() for p in job.outputs) and skip_existing:
            skipped += 1
            continue
        if any(p.exists() for p in job.outputs) and not overwrite and not skip_existing:
            _fail(f"{job.outputs[0]} exists; use --overwrite to replace or --skip-existing to resume")
        pending.append(job)
    if not pending:
        if not quiet:
            err.print(f"All {len(jobs)} outputs exist already in {out}; nothing to do.")
        return
    try:
        if model is not None:  # no training: read each image only when it is predicted
            trained = _load_model(model, device.value)
            failed = []
        else:  # train on every readable input, so a resumed run gives the same masks
            trained, failed = _read_and_train(jobs, channel, preset, foreground, epochs, seed, device, quiet)
            pending = [job for job in pending if job.image is not None]
            if save_model is not None:
                trained.save(save_model)
        written = _write(pending, trained, out, probabilities, labels, channel, failed, quiet)
    except KeyboardInterrupt:
        err.print("[red]Interrupted.[/red] Outputs written so far are complete; rerun with --skip-existing to resume.")
        raise typer.Exit(130)
    _summary(quiet, len(jobs), written, skipped, failed, time.perf_counter() - t0)
    if failed:
        raise typer.Exit(1)


@app.command(epilog="Example:\n\n  igtt train ./tiffs --save-model nuclei.igtt")
def train(
    inputs: InputsArg,
    save_model: Annotated[Path, typer.Option("--save-model", help="Where to save the model.", rich_help_panel=OUT)],
    pattern: PatternOpt = None,
    recursive: RecursiveOpt = False,
    channel: ChannelOpt = None,
    foreground: ForegroundOpt = Foreground.bright,
    preset: PresetOpt = Preset.default,
    epochs: EpochsOpt = None,
    seed: SeedOpt = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing model file.", rich_help_panel=OUT)] = False,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
):
    """Train a model on the input images and save it, without writing masks."""
    t0 = time.perf_counter()
    jobs = _collect(inputs, pattern, recursive)
    _check_target(save_model, [job.path for job in jobs], overwrite, kind="model")
    try:
        trained, failed = _read_and_train(jobs, channel, preset, foreground, epochs, seed, device, quiet)
        trained.save(save_model)
    except KeyboardInterrupt:
        err.print("[red]Interrupted.[/red] No model was saved.")
        raise typer.Exit(130)
    if not quiet:
        err.print(f"Saved model to {save_model}")
    _summary(quiet, len(jobs), 0, 0, failed, time.perf_counter() - t0)
    if failed:
        raise typer.Exit(1)


@app.command(epilog="Example:\n\n  igtt predict new_images --model nuclei.igtt --out masks")
def predict(
    inputs: InputsArg,
    model: Annotated[Path, typer.Option("--model", help="A model saved by train or segment.", rich_help_panel=MODEL)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the masks.", rich_help_panel=OUT)],
    pattern: PatternOpt = None,
    recursive: RecursiveOpt = False,
    channel: ChannelOpt = None,
    probabilities: Annotated[bool, typer.Option("--probabilities", help="Also write <stem>_prob.tif.", rich_help_panel=OUT)] = False,
    labels: Annotated[bool, typer.Option("--labels", help="Also write <stem>_labels.tif.", rich_help_panel=OUT)] = False,
    skip_existing: Annotated[bool, typer.Option("--skip-existing", help="Leave inputs whose mask exists.", rich_help_panel=OUT)] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.", rich_help_panel=OUT)] = False,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
):
    """Apply a saved model to images, without training."""
    segment(
        inputs,
        out=out,
        pattern=pattern,
        recursive=recursive,
        channel=channel,
        model=model,
        probabilities=probabilities,
        labels=labels,
        skip_existing=skip_existing,
        overwrite=overwrite,
        device=device,
        quiet=quiet,
    )


@app.command(epilog="Example:\n\n  igtt evaluate masks ground_truth --csv scores.csv")
def evaluate(
    pred_dir: Annotated[Path, typer.Argument(help="Folder of predicted masks (<stem>.tif, optional <stem>_prob.tif).")],
    gt_dir: Annotated[Path, typer.Argument(help="Folder of ground-truth masks; foreground = value > 0.")],
    fov: Annotated[Optional[Path], typer.Option(help="Folder of field-of-view masks; score inside them only.")] = None,
    csv: Annotated[Optional[Path], typer.Option(help="Write per-image scores to this CSV file.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing CSV file.")] = False,
    quiet: QuietOpt = False,
):
    """Score predicted masks against ground truth, matching files by stem."""
    from .evaluate import evaluate_folders

    if csv is not None:  # before any work: never over a mask, a ground truth or an existing file
        folders = [d for d in (pred_dir, gt_dir, fov) if d is not None and d.is_dir()]
        _check_target(csv, [f for d in folders for f in d.rglob("*") if f.is_file()], overwrite)

    try:
        rows = evaluate_folders(pred_dir, gt_dir, fov_dir=fov)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    columns = [c for c in ("dice", "iou", "precision", "recall", "accuracy", "auc") if any(c in r for r in rows)]
    table = Table(title=f"{len(rows) - 1} images")
    table.add_column("image")
    for c in columns:
        table.add_column(c, justify="right")
    for r in rows:
        table.add_row(r["image"], *(f"{100 * r[c]:.1f}" if c in r else "" for c in columns))
    if not quiet:
        Console().print(table)
    if csv is not None:
        from .evaluate import write_csv

        write_csv(csv, rows, columns)


@app.command()
def info():
    """Show versions, the compute device found and torch's thread count."""
    import platform

    import skimage
    import torch

    from . import __version__
    from .network import resolve_device

    try:
        import segmentation_models_pytorch as smp

        smp_version = smp.__version__
    except Exception as exc:  # pragma: no cover - broken installs
        smp_version = f"not importable ({exc})"
    table = Table(show_header=False)
    for key, value in [
        ("igtt", __version__),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("segmentation-models-pytorch", smp_version),
        ("scikit-image", skimage.__version__),
        ("device (auto)", str(resolve_device("auto"))),
        ("CUDA available", str(torch.cuda.is_available())),
        ("torch threads", str(torch.get_num_threads())),
    ]:
        table.add_row(key, value)
    Console().print(table)


from . import cli_study  # noqa: E402,F401  registers noise, density, study and patterns


def main():  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
