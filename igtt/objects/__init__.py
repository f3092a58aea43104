"""Objects in a mask: instances (touching blobs split apart) and a measurements table per image."""

from .instances import label_objects
from .measure import BLOB_COLUMNS, LINE_COLUMNS, measure, measure_blobs, measure_lines
from .table import write_measurements

__all__ = ["BLOB_COLUMNS", "LINE_COLUMNS", "label_objects", "measure", "measure_blobs", "measure_lines", "write_measurements"]
