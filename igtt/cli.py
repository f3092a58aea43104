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

from .config import KINDS, PRESETS
from .io import MAX_PIXELS, ImageReadError, check_target, find_images, read_image, remove_stale_temporaries, write_tiff

app = typer.Typer(
    name="igtt",
    help="Segment microscopy images without any annotation (iterative ground-truth training).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)


def flag(*names: str, **kwargs):
    """An on/off option, shown in ``--help`` without a type (typer >= 0.29 would print ``<bool>``)."""
    return typer.Option(*names, metavar="", **kwargs)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"igtt {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, flag("--version", callback=_version, is_eager=True, help="Show the igtt version and exit.")
    ] = False,
):
    """Segment microscopy images without any annotation (iterative ground-truth training)."""

Foreground = Enum("Foreground", {k: k for k in ("bright", "dark", "auto")}, type=str)
Device = Enum("Device", {k: k for k in ("auto", "cpu", "cuda", "mps")}, type=str)
Preset = Enum("Preset", {k: k for k in PRESETS}, type=str)
Objects = Enum("Objects", {k: k for k in KINDS}, type=str)

IN, MODEL, OUT, HW = "Input", "Model", "Output", "Hardware"

InputsArg = Annotated[list[str], typer.Argument(help="Image files, folders or globs.", show_default=False)]
PatternOpt = Annotated[
    Optional[str], typer.Option(help="File pattern inside folders, e.g. '*.tif' (default: common image types).", rich_help_panel=IN)
]
RecursiveOpt = Annotated[bool, flag("--recursive", "-r", help="Include subfolders (mirrored in the output).", rich_help_panel=IN)]
MaxPixelsOpt = Annotated[
    int, typer.Option(min=1, help="Refuse (skip) images larger than this many pixels, checked before reading.", rich_help_panel=IN)
]
ChannelOpt = Annotated[Optional[int], typer.Option(help="Channel to use for RGB or multi-channel images.", rich_help_panel=IN)]
ForegroundOpt = Annotated[Foreground, typer.Option(help="Objects are bright, dark, or guess.", rich_help_panel=MODEL)]
PresetOpt = Annotated[Preset, typer.Option(help="Settings preset: 'default' (fast, recommended) or the paper's.", rich_help_panel=MODEL)]
ObjectsOpt = Annotated[
    Optional[Objects],
    typer.Option(
        help="What the objects look like: blobs (nuclei, cells, organelles), lines (vessels, filaments), "
        "or auto (decided from the images; the default preset's choice).",
        rich_help_panel=MODEL,
    ),
]
ObjectSizeOpt = Annotated[
    Optional[float],
    typer.Option(min=1, help="Typical object diameter or line width in pixels (default: estimated).", rich_help_panel=MODEL),
]
EpochsOpt = Annotated[Optional[int], typer.Option(min=1, help="Training epochs (default: the preset's).", rich_help_panel=MODEL)]
SeedOpt = Annotated[int, typer.Option(min=0, max=2**32 - 1, help="Random seed; the same seed gives the same masks.", rich_help_panel=MODEL)]
DeviceOpt = Annotated[Device, typer.Option(help="Where to compute; auto = CUDA, then MPS, then CPU.", rich_help_panel=HW)]
QuietOpt = Annotated[bool, flag("--quiet", "-q", help="Print errors only.")]


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


def _glob_root(item: str) -> Path:
    """The folder a glob is relative to: its path up to the first part with a wildcard."""
    import glob

    parts = Path(item).parts
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    return Path(*parts[:fixed]) if fixed else Path(".")


def _collect(inputs: list[str], pattern: str | None, recursive: bool, out: Path | None = None) -> list[Job]:
    """Every input file with its output path relative to ``--out`` (mirroring the folder or glob it came from).

    Files inside ``out`` are never inputs when ``out`` lies inside an input
    folder: a rerun does not read its own masks.
    """
    jobs = []
    own = out.resolve() if out is not None else None
    for item in inputs:
        root = Path(item) if Path(item).is_dir() else _glob_root(item) if not Path(item).is_file() else None
        try:
            files = find_images([item], pattern=pattern, recursive=recursive)
        except FileNotFoundError as exc:
            _fail(str(exc))
        nested = own is not None and root is not None and own != root.resolve() and own.is_relative_to(root.resolve())
        for f in files:
            if nested and f.resolve().is_relative_to(own):
                continue
            rel = f.relative_to(root) if root is not None else Path(f.name)
            jobs.append(Job(f, rel.with_suffix("")))
    if not jobs:
        _fail(f"no images found in {' '.join(inputs)} (pattern: {pattern or 'common image types'})")
    return jobs


def _plan(jobs: list[Job], out: Path, probabilities: bool, labels: bool, overwrite: bool, skip_existing: bool):
    """Give every job its output paths and check them all before any work.

    Refuses (one message, every clash listed) outputs that two inputs would
    share, outputs that would land on an input, outputs that are folders or
    sit below a file, and existing outputs without ``--overwrite`` or
    ``--skip-existing``. Returns the jobs still to do and how many were skipped.
    """
    inputs = {job.path.resolve() for job in jobs}
    owner: dict[Path, Job] = {}
    clashes, pending, skipped = [], [], 0
    for job in jobs:
        base = out / job.relative
        job.outputs = [base.parent / (base.name + ".tif")]
        job.outputs += [base.parent / f"{base.name}_prob.tif"] if probabilities else []
        job.outputs += [base.parent / f"{base.name}_labels.tif"] if labels else []
        for path in job.outputs:
            key = path.resolve()
            if key in inputs:
                _fail(f"{path}: output would overwrite an input; choose another --out")
            if key in owner:
                clashes.append(f"{owner[key].path} and {job.path} -> {path}")
            owner[key] = job
            if path.is_dir():
                _fail(f"{path}: output is a folder; move it or choose another --out")
            blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
            if blocker is not None:
                _fail(f"{path}: cannot create it, {blocker} is a file, not a folder")
        if all(p.exists() for p in job.outputs) and skip_existing:
            skipped += 1
            continue
        if any(p.exists() for p in job.outputs) and not overwrite and not skip_existing:
            _fail(f"{job.outputs[0]} exists; use --overwrite to replace or --skip-existing to resume")
        pending.append(job)
    if clashes:
        listed = "; ".join(clashes[:5]) + (f"; and {len(clashes) - 5} more" if len(clashes) > 5 else "")
        _fail(f"{len(clashes)} output name(s) would be shared, nothing written: {listed}. Rename the inputs, "
              "or give their common folder with --recursive so the outputs mirror their subfolders")
    remove_stale_temporaries({p.parent for job in jobs for p in job.outputs})
    return pending, skipped


def _check_device(device: Device) -> None:
    from .network import resolve_device

    try:
        resolve_device(device.value)
    except ValueError as exc:
        _fail(str(exc))


def _read(jobs: list[Job], reading: dict, quiet: bool) -> tuple[list[Job], list[tuple[Path, str]]]:
    good, failed = [], []
    for job in jobs:
        try:
            job.image = read_image(job.path, **reading)
        except ImageReadError as exc:
            failed.append((job.path, str(exc)))
            err.print(f"[yellow]Skipped[/yellow] {exc}", highlight=False)
            continue
        good.append(job)
    return good, failed


def _planes(jobs: list[Job]) -> list[np.ndarray]:
    return [plane for job in jobs for plane in job.image.reshape((-1,) + job.image.shape[-2:])]


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
        task = bar.add_task("Training", total=None, info="")
        for event in model.iter_fit(images):
            bar.update(task, total=event.n_epochs, completed=event.epoch, info=f"loss {event.loss:.4f}")
    if not quiet:
        size = f", size {model.object_size_:.0f} px" if model.object_size_ else ""
        err.print(f"objects: {model.objects_}{size}")
    return model


def _read_and_train(jobs, reading: dict, settings: dict, quiet):
    """Read every job (bad files reported and skipped), then train on all planes."""
    readable, failed = _read(jobs, reading, quiet)
    if not readable:
        _fail("none of the input images could be read")
    config = _config(**settings)
    return _train(_planes(readable), config, quiet), failed


def _config(preset: Preset, **changes):
    """The preset with the command line's settings; options left out keep the preset's."""
    from .config import preset as make

    changes = {k: getattr(v, "value", v) for k, v in changes.items()}
    for key in ("objects", "object_size", "epochs"):
        if changes[key] is None:
            del changes[key]
    try:
        return make(preset.value, **changes)
    except ValueError as exc:
        _fail(str(exc))


def _load_model(path: Path, device: str):
    from .model import IGTT

    try:
        return IGTT.load(path, device=device)
    except (ValueError, FileNotFoundError, OSError) as exc:
        _fail(f"{path}: cannot load model ({exc})")


def _write(jobs, model, probabilities, labels, reading, failed, quiet) -> int:
    """Predict and write every job's outputs; a file that fails is reported and the batch goes on."""
    written = 0
    with _progress(quiet) as bar:
        task = bar.add_task("Writing", total=len(jobs), info="")
        for job in jobs:
            if job.image is None:
                read, bad = _read([job], reading, quiet)
                failed.extend(bad)
            if job.image is not None:
                try:
                    _write_one(job, model, probabilities, labels)
                    written += 1
                except (OSError, ValueError, MemoryError) as exc:
                    reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0] or type(exc).__name__
                    failed.append((job.path, f"{job.path}: not written ({reason})"))
                    err.print(f"[yellow]Failed[/yellow] {job.path}: not written ({reason})", highlight=False)
            bar.update(task, advance=1, info=job.path.name)
            job.image = None  # free memory as we go
    return written


def _write_one(job: Job, model, probabilities: bool, labels: bool) -> None:
    """Predict one file's planes and write its outputs, shaped like the input (atomically, each)."""
    from scipy import ndimage as ndi

    shape = job.image.shape
    planes = list(job.image.reshape((-1,) + shape[-2:]))  # a list: a 500x3 plane is never taken for RGB
    if probabilities:
        masks, proba = model.predict(planes, return_proba=True)
    else:
        masks = model.predict(planes)
    outputs = iter(job.outputs)
    write_tiff(next(outputs), np.multiply(masks, 255, dtype=np.uint8).reshape(shape))
    if probabilities:
        write_tiff(next(outputs), np.asarray(proba, np.float32).reshape(shape))
    if labels:
        inst = np.stack([ndi.label(m, output=np.uint32)[0] for m in masks])  # 4-connected
        write_tiff(next(outputs), inst.reshape(shape))


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
    max_pixels: MaxPixelsOpt = MAX_PIXELS,
    foreground: ForegroundOpt = Foreground.bright,
    preset: PresetOpt = Preset.default,
    objects: ObjectsOpt = None,
    object_size: ObjectSizeOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = 0,
    model: Annotated[
        Optional[Path], typer.Option("--model", help="Apply this saved model instead of training.", rich_help_panel=MODEL)
    ] = None,
    save_model: Annotated[
        Optional[Path], typer.Option("--save-model", help="Also save the trained model here.", rich_help_panel=MODEL)
    ] = None,
    probabilities: Annotated[
        bool, flag("--probabilities", help="Also write float32 maps <stem>_prob.tif.", rich_help_panel=OUT)
    ] = False,
    labels: Annotated[
        bool, flag("--labels", help="Also write instance labels <stem>_labels.tif.", rich_help_panel=OUT)
    ] = False,
    skip_existing: Annotated[
        bool, flag("--skip-existing", help="Leave inputs whose mask exists (resume a run).", rich_help_panel=OUT)
    ] = False,
    overwrite: Annotated[bool, flag("--overwrite", help="Replace existing outputs.", rich_help_panel=OUT)] = False,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
):
    """Train on the input images, then write one mask per image (uint8, 0 and 255)."""
    t0 = time.perf_counter()
    _check_out_dir(out)
    _check_device(device)
    jobs = _collect(inputs, pattern, recursive, out)
    if save_model is not None:
        _check_target(save_model, {job.path.resolve() for job in jobs}, overwrite, kind="model")
    pending, skipped = _plan(jobs, out, probabilities, labels, overwrite, skip_existing)
    if not pending:
        if not quiet:
            err.print(f"All {len(jobs)} outputs exist already in {out}; nothing to do.")
        return
    try:
        if model is not None:  # no training: read each image only when it is predicted
            trained = _load_model(model, device.value)
            failed = []
        else:  # train on every readable input, so a resumed run gives the same masks
            settings = dict(preset=preset, foreground=foreground, objects=objects, object_size=object_size)
            settings.update(epochs=epochs, seed=seed, device=device)
            trained, failed = _read_and_train(jobs, dict(channel=channel, max_pixels=max_pixels), settings, quiet)
            pending = [job for job in pending if job.image is not None]
            if save_model is not None:
                trained.save(save_model)
        reading = dict(channel=channel, max_pixels=max_pixels)
        written = _write(pending, trained, probabilities, labels, reading, failed, quiet)
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
    max_pixels: MaxPixelsOpt = MAX_PIXELS,
    foreground: ForegroundOpt = Foreground.bright,
    preset: PresetOpt = Preset.default,
    objects: ObjectsOpt = None,
    object_size: ObjectSizeOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = 0,
    overwrite: Annotated[bool, flag("--overwrite", help="Replace an existing model file.", rich_help_panel=OUT)] = False,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
):
    """Train a model on the input images and save it, without writing masks."""
    t0 = time.perf_counter()
    _check_device(device)
    jobs = _collect(inputs, pattern, recursive)
    _check_target(save_model, [job.path for job in jobs], overwrite, kind="model")
    try:
        settings = dict(preset=preset, foreground=foreground, objects=objects, object_size=object_size)
        settings.update(epochs=epochs, seed=seed, device=device)
        trained, failed = _read_and_train(jobs, dict(channel=channel, max_pixels=max_pixels), settings, quiet)
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
    max_pixels: MaxPixelsOpt = MAX_PIXELS,
    probabilities: Annotated[bool, flag("--probabilities", help="Also write <stem>_prob.tif.", rich_help_panel=OUT)] = False,
    labels: Annotated[bool, flag("--labels", help="Also write <stem>_labels.tif.", rich_help_panel=OUT)] = False,
    skip_existing: Annotated[bool, flag("--skip-existing", help="Leave inputs whose mask exists.", rich_help_panel=OUT)] = False,
    overwrite: Annotated[bool, flag("--overwrite", help="Replace existing outputs.", rich_help_panel=OUT)] = False,
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
        max_pixels=max_pixels,
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
    overwrite: Annotated[bool, flag("--overwrite", help="Replace an existing CSV file.")] = False,
    quiet: QuietOpt = False,
):
    """Score predicted masks against ground truth, matching files by stem."""
    from .evaluate import evaluate_folders, unmatched

    if csv is not None:  # before any work: never over a mask, a ground truth or an existing file
        folders = [d for d in (pred_dir, gt_dir, fov) if d is not None and d.is_dir()]
        _check_target(csv, [f for d in folders for f in d.rglob("*") if f.is_file()], overwrite)

    try:
        rows = evaluate_folders(pred_dir, gt_dir, fov_dir=fov)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    try:
        lonely_preds, lonely_truths = unmatched(pred_dir, gt_dir)
    except FileNotFoundError as exc:
        _fail(str(exc))
    for what, paths in (("prediction without ground truth", lonely_preds), ("ground truth without prediction", lonely_truths)):
        if paths:
            names = ", ".join(p.name for p in paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
            err.print(f"[yellow]Not scored[/yellow] ({len(paths)} {what}): {names}", highlight=False)
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
