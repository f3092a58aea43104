"""The study commands: ``igtt noise``, ``density``, ``patterns`` and ``study noise`` (matplotlib: the ``study`` extra)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from ..io.files import ImageReadError, find_images, read_image, write_tiff
from .options import App, Device, DeviceOpt, OverwriteOpt, QuietOpt, SeedOpt, check_folder, err, fail, plan_outputs, progress_bar

DEFAULT_LABELS = ["CL", "RCL:flip=0.45", "RCL:sample=0.1", "PCL:skeleton", "PCL:dilate", "PCL:erode", "RL:0.5"]
SPECS_HELP = (
    "Label types: CL, RCL:flip=P, RCL:p10=A,p01=B, RCL:ntm=a,b;c,d, RCL:sample=P, RCL:sample_exact=P, "
    "PCL:skeleton, PCL:dilate[=N], PCL:erode[=N], RL:P; add ',dynamic' to redraw RCL/RL every epoch."
)
DATA, TRAINING, OUT = "Data", "Training", "Output"

app = App()
study_app = App(help="Studies of what networks learn from noisy labels (the papers' experiments).", no_args_is_help=True)
app.add_typer(study_app, name="study", rich_help_panel="Study tools")

ClassesOpt = Annotated[int, typer.Option(min=2, help="Number of classes; 2 = binary (mask > 0 is foreground).")]


def _read_labels(path: Path, n_classes: int) -> np.ndarray:
    labels = read_image(path)
    if labels.ndim != 2:
        raise ImageReadError(f"{path}: a label image must be 2D, got shape {labels.shape}")
    if n_classes == 2:
        return (labels > 0).astype(np.uint8)
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ImageReadError(f"{path}: label values must be classes 0..{n_classes - 1}, found {labels.min()}..{labels.max()}")
    return labels.astype(np.uint8)


def _each_label(files: list[Path], n_classes: int, failed: list[Path]):
    """Yield ``(path, labels)`` for every readable file; report the others in one line and collect them."""
    for path in files:
        try:
            yield path, _read_labels(path, n_classes)
        except ImageReadError as exc:
            err.print(f"[red]Skipped:[/red] {escape(str(exc))}", highlight=False)
            failed.append(path)


@contextmanager
def _writing(path: Path, failed: list[Path]):
    """One file's outputs: a fault while writing them (disk full, permissions) is one line, and the batch goes on."""
    try:
        yield
    except OSError as exc:
        err.print(f"[red]Failed:[/red] {escape(f'{path}: not written ({exc.strerror or exc})')}", highlight=False)
        failed.append(path)


def _label_files(inputs: list[str]) -> list[Path]:
    try:
        files = find_images(inputs)
    except FileNotFoundError as exc:
        fail(str(exc))
    if not files:
        fail(f"no label images found in {' '.join(inputs)}")
    return files


def _spec(text: str, dynamic: bool = False):
    from ..study.specs import parse_spec

    try:
        return parse_spec(text, dynamic=dynamic)
    except ValueError as exc:
        fail(str(exc))


@app.command(
    rich_help_panel="Study tools",
    epilog="Example:\n\n  igtt noise masks/ --label RCL:flip=0.45 --out noisy/",
)
def noise(
    masks: Annotated[list[str], typer.Argument(help="Clean label images: files, folders or globs.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the noisy labels.", rich_help_panel=OUT)],
    label: Annotated[str, typer.Option(help=SPECS_HELP)] = "RCL:flip=0.45",
    classes: ClassesOpt = 2,
    seed: SeedOpt = 0,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
):
    """Write noisy versions of label images: RCL, PCL or RL (papers' Table 1).

    Binary outputs are 0/255 uint8, multi-class ones class indices. Random
    sampling with an ignore mask also writes <stem>_valid.tif (255 = counts
    in the loss). A table gives each file's wrong-pixel rate and the NTM
    estimated against the clean labels.
    """
    from ..study.ntm import min_crd, ntm_from_counts, ntm_rank, transition_counts

    spec = _spec(label)
    files = _label_files(masks)
    suffixes = [".tif"] + ["_valid.tif"] * spec.has_valid_mask
    plan_outputs([(out / f"{f.stem}{sfx}", f) for f in files for sfx in suffixes], inputs=files, overwrite=overwrite)
    check_folder(out)
    rng = np.random.default_rng(seed)
    table = Table(title=f"igtt noise {spec.text}")
    for col in ("file", "wrong %", "estimated NTM (column = true class)", "rank", "min d"):
        table.add_column(col, overflow="fold")
    failed: list[Path] = []
    for path, clean in _each_label(files, classes, failed):
        noisy, valid = spec.make(clean, rng, classes)
        scale = 255 if classes == 2 else 1
        with _writing(path, failed):
            write_tiff(out / f"{path.stem}.tif", (np.asarray(noisy) * scale).astype(np.uint8), replace=overwrite)
            if valid is not None:
                write_tiff(out / f"{path.stem}_valid.tif", valid.astype(np.uint8) * 255, replace=overwrite)
        if path in failed:
            continue
        counts = transition_counts(clean, noisy, n_classes=classes, valid=valid)
        q = ntm_from_counts(counts)
        wrong = 1 - np.trace(counts) / max(counts.sum(), 1)
        known = np.nan_to_num(q)
        table.add_row(
            path.name,
            f"{100 * wrong:.1f}",
            np.array2string(q, precision=3, suppress_small=True),
            str(ntm_rank(known, tol=1e-2)),
            f"{min_crd(known):.3f}",
        )
    if not quiet:
        err.print(table)
    if failed:
        raise typer.Exit(1)


@app.command(
    rich_help_panel="Study tools",
    epilog="Examples:\n\n  igtt density noisy/ --h 8 --out density/\n\n  igtt density --example --out density/",
)
def density(
    labels: Annotated[Optional[list[str]], typer.Argument(help="Label images: files, folders or globs.", show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for maps and figures.", rich_help_panel=OUT)] = Path("density"),
    h: Annotated[int, typer.Option(min=0, help="Half-width of the uniform kernel: windows of (2h+1)² pixels.")] = 8,
    row: Annotated[Optional[int], typer.Option(min=0, help="Row of the density curve (default: the middle).")] = None,
    classes: ClassesOpt = 2,
    example: Annotated[bool, typer.Option("--example", help="Draw the papers' circle-in-rectangle figure (Fig. 10).")] = False,
    seed: SeedOpt = 0,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
):
    """Spatial density maps (meta-structures) of label images: heatmaps and density curves.

    Writes <stem>_density.tif (float32, one plane per class) and
    <stem>_density.png (the label, each class's heatmap and its density
    curve along one row).
    """
    from ..study.density import circle_in_rectangle, density_map, density_maps, figure10_labels, outline_positions
    from ..study.plots import density_figure

    if not labels and not example:
        fail("give label images, or --example for the papers' circle-in-rectangle figure")
    files = _label_files(labels) if labels else []
    planned = [(out / "figure10.png", "--example")] * example
    planned += [(out / f"{f.stem}_density{sfx}", f) for f in files for sfx in (".tif", ".png")]
    plan_outputs(planned, inputs=files, overwrite=overwrite)
    check_folder(out, figures=True)
    written = []
    if example:
        shown = figure10_labels(rng=seed)
        maps = {name: density_map(lab, h) for name, lab in shown.items()}
        r = 128 if row is None else row
        outlines = outline_positions(circle_in_rectangle(), r)
        written.append(density_figure(shown, maps, out / "figure10.png", row=r, outlines=outlines, h=h))
    failed: list[Path] = []
    for path, lab in _each_label(files, classes, failed):
        if row is not None and row >= lab.shape[0]:
            err.print(f"[red]Skipped:[/red] {escape(f'{path}: --row {row} is outside the image ({lab.shape[0]} rows)')}", highlight=False)
            failed.append(path)
            continue
        maps = density_maps(lab, h, n_classes=classes)
        r = lab.shape[0] // 2 if row is None else row
        names = [f"class {m}" for m in range(classes)] if classes > 2 else ["foreground"]
        planes = maps if classes > 2 else maps[1:]
        shown = {f"{path.stem}: {n}": (lab == (m if classes > 2 else 1)) for m, n in enumerate(names)}
        figure = {key: plane for key, plane in zip(shown, planes)}
        with _writing(path, failed):
            write_tiff(out / f"{path.stem}_density.tif", maps, replace=overwrite)
            written.append(density_figure(shown, figure, out / f"{path.stem}_density.png", row=r, outlines=outline_positions(lab, r), h=h))
    if not quiet:
        for path in written:
            err.print(f"wrote {escape(str(path))}", highlight=False)
    if failed:
        raise typer.Exit(1)


@study_app.command(
    "noise",
    epilog=(
        "Examples:\n\n  igtt study noise data/bbbc039 --labels CL RCL:flip=0.45 PCL:erode RL:0.5 --out study/\n\n"
        "  igtt study noise data/er --labels RCL:flip=0.45 --dynamic --epochs 20 --out study_dynamic/"
    ),
)
def study_noise(
    data_dir: Annotated[Path, typer.Argument(help="Folder with images/ and masks/ (same file stems).", show_default=False)],
    more_labels: Annotated[Optional[list[str]], typer.Argument(help="Further label types (they may follow --labels).", show_default=False)] = None,
    labels: Annotated[Optional[list[str]], typer.Option("--labels", "-l", help=SPECS_HELP + " Default: CL, RCL flip 0.45 and sample 0.1, the three PCLs, RL 0.5.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for tables, curves and models.", rich_help_panel=OUT)] = Path("study"),
    images_dir: Annotated[str, typer.Option("--images", help="Images subfolder.", rich_help_panel=DATA)] = "images",
    masks_dir: Annotated[str, typer.Option("--masks", help="Clean masks subfolder.", rich_help_panel=DATA)] = "masks",
    split: Annotated[float, typer.Option(min=0.05, max=0.95, help="Fraction of images for training.", rich_help_panel=DATA)] = 0.7,
    limit: Annotated[Optional[int], typer.Option(min=2, help="Use only the first N images.", rich_help_panel=DATA)] = None,
    classes: ClassesOpt = 2,
    architecture: Annotated[str, typer.Option(help="unet (binary, papers) or deeplabv3plus (multi-class, papers).", rich_help_panel=TRAINING)] = "unet",
    epochs: Annotated[int, typer.Option(min=1, help="Epochs per label type.", rich_help_panel=TRAINING)] = 10,
    steps: Annotated[int, typer.Option(min=1, help="Optimiser steps per epoch.", rich_help_panel=TRAINING)] = 30,
    batch: Annotated[int, typer.Option(min=1, help="Crops per step.", rich_help_panel=TRAINING)] = 8,
    crop: Annotated[int, typer.Option(min=32, help="Crop size in pixels.", rich_help_panel=TRAINING)] = 256,
    optimizer: Annotated[str, typer.Option(help="sgd (papers) or adam.", rich_help_panel=TRAINING)] = "adam",
    lr: Annotated[Optional[float], typer.Option(help="Learning rate (default: 1e-3 for adam, 0.05 for sgd).", rich_help_panel=TRAINING)] = None,
    lr_step: Annotated[int, typer.Option(min=0, help="Divide the learning rate by 10 every N epochs (papers: 20); 0 = never.", rich_help_panel=TRAINING)] = 0,
    dynamic: Annotated[bool, typer.Option("--dynamic", help="Redraw every random label (RCL, RL) each epoch (Theorem 3).", rich_help_panel=TRAINING)] = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = Device.auto,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
):
    """Train one network per label type and score each on a test split against the clean masks.

    Writes results.csv and results.md (rank and smallest CRD of each label's
    NTM, wrong-pixel rate, test Dice and IoU), curves.png, labels.png
    (labels and density maps), differences.png (test masks against the CL
    model's) and models/*.igtt.
    """
    from ..config import Config
    from ..study.runner import load_pairs, run_study, study_outputs

    if architecture not in ("unet", "deeplabv3plus"):
        fail(f"--architecture must be unet or deeplabv3plus, got {architecture!r}")
    if optimizer not in ("sgd", "adam"):
        fail(f"--optimizer must be sgd or adam, got {optimizer!r}")
    if architecture == "deeplabv3plus" and batch < 2:
        fail("DeepLabV3+ needs --batch 2 or more (its pooling branch normalises over the batch)")
    texts = (labels or []) + (more_labels or []) or DEFAULT_LABELS
    specs = [_spec(t, dynamic) for t in texts]
    if len({s.name for s in specs}) != len(specs):
        fail("a label type is given twice")
    try:
        unreadable = []

        def skip(reason: str) -> None:
            unreadable.append(reason)
            err.print(f"[yellow]Failed[/yellow] {escape(reason)}; the study goes on without it", highlight=False)

        names, images, masks = load_pairs(data_dir, images=images_dir, masks=masks_dir, n_classes=classes, on_skip=skip)
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    if limit:
        images, masks = images[:limit], masks[:limit]
    if len(images) < 2:
        fail(f"{data_dir}: a study needs at least 2 image/mask pairs, found {len(images)}")
    inputs = [f for folder in (data_dir / images_dir, data_dir / masks_dir) for f in folder.rglob("*") if f.is_file()]
    plan_outputs(study_outputs(specs, out, architecture=architecture, n_classes=classes), inputs=inputs, overwrite=overwrite)
    check_folder(out, figures=True)
    config = Config(
        encoder="resnet18",  # the papers' study: a ResNet U-Net
        epochs=epochs,
        steps_per_epoch=steps,
        batch_size=batch,
        crop_size=crop,
        optimizer=optimizer,
        lr=lr if lr is not None else (1e-3 if optimizer == "adam" else 0.05),
        momentum=0.9,
        lr_step=lr_step,
        lr_gamma=0.1,
        weight_decay=1e-4 if optimizer == "sgd" else 0.0,
        seed=seed,
        device=device.value,
    )
    with progress_bar(quiet) as bar:
        task = bar.add_task("Study", total=len(specs) * epochs, info="")

        def on_epoch(spec, scores):
            bar.update(task, advance=1, info=f"{spec.name} epoch {scores.epoch}: Dice {scores.dice:.3f}")

        try:
            results = run_study(images, masks, specs, split=split, n_classes=classes, architecture=architecture,
                                config=config, out=out, on_epoch=on_epoch)
        except KeyboardInterrupt:
            fail(f"interrupted; the label types finished so far are in {out / 'results.csv'}", code=130)
    if not quiet:
        table = Table(title=f"igtt study noise: {data_dir}")
        rows = [r.row() for r in results]
        for col in rows[0]:
            table.add_column(col, justify="left" if col == "labels" else "right")
        for row in rows:
            table.add_row(*(str(v) for v in row.values()))
        err.print(table)
        err.print(f"tables, curves and models in {escape(str(out))}", highlight=False)
    if unreadable:
        raise typer.Exit(1)  # as every command: a pair left out fails the exit code
