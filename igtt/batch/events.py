"""What a batch run yields: an unreadable input, the trained model, a written job, a failed one, the final report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .jobs import Job

__all__ = ["Skipped", "Trained", "Written", "Failed", "Report"]


@dataclass
class Skipped:
    """An input that could not be read; the batch goes on without it."""

    source: Path | str
    reason: str


@dataclass
class Trained:
    """Training finished (or was stopped); ``model`` predicts from here on."""

    model: object


@dataclass
class Written:
    """One job's results are written (files) or stored in ``job.result`` (in memory)."""

    job: Job
    done: int
    total: int


@dataclass
class Failed:
    """A job whose results could not be written; the batch goes on."""

    job: Job
    reason: str

    @property
    def source(self) -> Path | str:
        return self.job.source


@dataclass
class Report:
    """The end of a run: what happened to every input, the quality report's rows (:func:`igtt.quality.report_row`)
    and what holds for the folder as a whole (:func:`igtt.quality.folder_notes`)."""

    written: int
    skipped: list[tuple[Path | str, str]]
    seconds: float
    model: object = None
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    objects: list[dict] = field(default_factory=list)  # the per-image summary's rows of the images written (igtt.objects.summary_rows)
