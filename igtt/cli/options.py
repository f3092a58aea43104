"""What every command shares: the app class, option types, error and progress rendering."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from typer.core import TyperCommand, TyperGroup

from ..config import KINDS, PRESETS
from ..io.files import MAX_PIXELS

__all__ = ["App", "err", "fail", "progress_bar", "check_folder", "plan_outputs", "OverwriteOpt", "Foreground", "Device", "Preset", "Objects", "MAX_PIXELS"]

err = Console(stderr=True, soft_wrap=True)


def _plain_flags(params: list) -> list:
    """On/off options (``--help`` and the completion ones included) shown without a type; typer >= 0.29 prints ``<bool>``."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class _Group(TyperGroup):
    def get_params(self, ctx):
        return _plain_flags(super().get_params(ctx))


class _Command(TyperCommand):
    def get_params(self, ctx):
        return _plain_flags(super().get_params(ctx))


class App(typer.Typer):
    """A Typer app whose help shows on/off options as plain flags."""

    def __init__(self, **kwargs):
        super().__init__(cls=_Group, **kwargs)

    def command(self, *args, **kwargs):
        kwargs.setdefault("cls", _Command)
        return super().command(*args, **kwargs)


def fail(message: str, code: int = 1):
    """Print one red line and end the command with ``code``."""
    err.print(f"[red]Error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def progress_bar(quiet: bool) -> Progress:
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


Foreground = Enum("Foreground", {k: k for k in ("bright", "dark", "auto")}, type=str)
Device = Enum("Device", {k: k for k in ("auto", "cpu", "cuda", "mps")}, type=str)
Preset = Enum("Preset", {k: k for k in PRESETS}, type=str)
Objects = Enum("Objects", {k: k for k in KINDS}, type=str)

IN, MODEL, OUT, HW = "Input", "Model", "Output", "Hardware"

InputsArg = Annotated[list[str], typer.Argument(help="Image files, folders, globs or zarr stores.", show_default=False)]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder for the masks (for one zarr input: the .ome.zarr store to write).", rich_help_panel=OUT)]
PatternOpt = Annotated[
    Optional[str], typer.Option(help="File pattern inside folders, e.g. '*.tif' (default: common image types).", rich_help_panel=IN)
]
RecursiveOpt = Annotated[bool, typer.Option("--recursive", "-r", help="Include subfolders (mirrored in the output).", rich_help_panel=IN)]
MaxPixelsOpt = Annotated[
    int, typer.Option(min=1, help="Refuse (skip) images larger than this many pixels, checked before reading.", rich_help_panel=IN)
]
ChannelOpt = Annotated[Optional[int], typer.Option(help="Channel to use for RGB or multi-channel images.", rich_help_panel=IN)]
DepthOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--3d/--2d",
        help="Segment z-stacks as volumes (3D objects) or plane by plane (default: volumes where the file has a z axis).",
        rich_help_panel=IN,
        show_default=False,
    ),
]
PixelSizeOpt = Annotated[
    Optional[float], typer.Option(min=1e-6, help="Pixel size in µm (default: the file's metadata).", rich_help_panel=IN)
]
ZStepOpt = Annotated[
    Optional[float], typer.Option(min=1e-6, help="Distance between z planes in µm (default: the file's metadata).", rich_help_panel=IN)
]
LevelOpt = Annotated[int, typer.Option(min=0, help="Resolution level of OME-Zarr inputs (0 = full resolution).", rich_help_panel=IN)]
ForegroundOpt = Annotated[
    Foreground, typer.Option(help="Objects are bright or dark; auto (default) decides from the whole folder and says which.", rich_help_panel=MODEL)
]
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
SchedulerOpt = Annotated[
    Optional[str],
    typer.Option(help="Address of a running dask scheduler (tcp://host:8786): predict there, one task per file.", rich_help_panel=HW),
]
DeviceOpt = Annotated[Device, typer.Option(help="Where to compute; auto = CUDA, then MPS, then CPU.", rich_help_panel=HW)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.", rich_help_panel=OUT)]


def check_folder(out: Path, figures: bool = False) -> None:
    """The output folder can be written (and matplotlib is there when figures are drawn), or one line and exit."""
    from ..io.outputs import PlanError, check_writable

    try:
        if figures:
            from ..study.plots import require_matplotlib

            require_matplotlib()
        check_writable(out)
    except (PlanError, ImportError) as exc:
        fail(str(exc))


def plan_outputs(outputs, *, inputs, overwrite: bool, kind: str = "file") -> list[Path]:
    """Check a command's ``(path, source)`` outputs before any work (:func:`igtt.io.outputs.plan_outputs`), or one line and exit."""
    from ..io.outputs import PlanError
    from ..io.outputs import plan_outputs as plan

    try:
        return plan(outputs, inputs=inputs, overwrite=overwrite, kind=kind)
    except PlanError as exc:
        fail(str(exc))


def check_device(device: Device) -> None:
    from ..nn.network import resolve_device

    try:
        resolve_device(device.value)
    except ValueError as exc:
        fail(str(exc))
