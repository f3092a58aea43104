"""The ``igtt`` command line: one module per command group, sharing :mod:`.options`.

Each module parses options and renders what the library yields; the work
happens in :mod:`igtt.batch` and the engine.
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import evaluate, export, patterns, review, segment, study
from .options import App

__all__ = ["app", "main"]

app = App(
    name="igtt",
    help="Segment microscopy images without any annotation (iterative ground-truth training).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"igtt {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the igtt version and exit.")] = False,
):
    """Segment microscopy images without any annotation (iterative ground-truth training)."""


for group in (segment, review, evaluate, export, study, patterns):
    app.add_typer(group.app)


def main():  # pragma: no cover - console script entry
    app()
