"""``igtt evaluate`` (score masks against ground truth) and ``igtt info`` (versions and device)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .options import App, QuietOpt, err, fail, plan_outputs

app = App()


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
    from ..io.evaluate import evaluate_folders, unmatched, write_csv

    if csv is not None:  # before any work: never over a mask, a ground truth or an existing file
        folders = [d for d in (pred_dir, gt_dir, fov) if d is not None and d.is_dir()]
        plan_outputs([(csv, "--csv")], inputs=[f for d in folders for f in d.rglob("*") if f.is_file()], overwrite=overwrite)
    skipped: list[str] = []
    try:
        rows = evaluate_folders(pred_dir, gt_dir, fov_dir=fov, skipped=skipped)
        lonely_preds, lonely_truths = unmatched(pred_dir, gt_dir)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    for reason in skipped:
        err.print(f"[yellow]Skipped[/yellow] {escape(reason)}", highlight=False)
    for what, paths in (("prediction without ground truth", lonely_preds), ("ground truth without prediction", lonely_truths)):
        if paths:
            names = ", ".join(p.name for p in paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
            err.print(f"[yellow]Not scored[/yellow] ({len(paths)} {what}): {escape(names)}", highlight=False)
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
        try:
            write_csv(csv, rows, columns, replace=overwrite)
        except OSError as exc:
            fail(f"{csv}: not written ({exc.strerror or exc})")
    if skipped:
        raise typer.Exit(1)


@app.command()
def info():
    """Show versions, the compute device found and torch's thread count."""
    import platform

    import skimage
    import torch

    from .. import __version__
    from ..nn.network import resolve_device

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
