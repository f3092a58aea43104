"""How far to trust each mask, without ground truth: a per-image check against the image's own start, and the report.

:mod:`.check` measures a mask against what the image itself supports and
replaces a network mask that runs away from it; :mod:`.report` turns the
measurements into a score, plain flags and the rows of ``report.csv``.
"""

from .check import ImageCheck, check_mask
from .image import Segmentation, check_image, standing_out
from .report import REPORT_FIELDS, folder_flags, folder_notes, report_row, to_check_first

__all__ = ["ImageCheck", "Segmentation", "check_image", "check_mask", "standing_out", "REPORT_FIELDS", "folder_flags", "folder_notes", "report_row", "to_check_first"]
