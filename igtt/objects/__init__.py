"""Objects in a mask or volume: instances (touching blobs split apart), a measurements table per image and a summary per folder."""

from .instances import label_objects
from .measure import BLOB_COLUMNS, LINE_COLUMNS, VOLUME_COLUMNS, measure, measure_blobs, measure_lines
from .table import SUMMARY, summary_rows, write_measurements, write_summary

__all__ = [
    "BLOB_COLUMNS", "LINE_COLUMNS", "VOLUME_COLUMNS", "SUMMARY", "label_objects", "measure", "measure_blobs", "measure_lines",
    "summary_rows", "write_measurements", "write_summary",
]
