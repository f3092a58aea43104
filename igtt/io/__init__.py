"""Data in and out: image files and zarr stores, outputs planned and written atomically, model files, scores.

- :mod:`.files`: reading image files (one line naming the file for any fault), writing TIFFs;
- :mod:`.outputs`: every command's outputs planned before any work, atomic writes;
- :mod:`.zarr_store`, :mod:`.blocks`: OME-Zarr stores and images larger than memory, block by block;
- :mod:`.model_file`: the saved model (format versions);
- :mod:`.evaluate`, :mod:`.metrics`: scoring masks against ground truth;
- :mod:`.zoo`: BioImage.IO export (the network it ships: :mod:`igtt.nn.zoo_net`); :mod:`.synthetic`: generated test images.
"""

from .files import MAX_PIXELS, ImageReadError, find_images, images_by_stem, read_image, write_tiff
from .outputs import OutputPlan, PlanError, atomic_path, check_target, plan_outputs

__all__ = [
    "MAX_PIXELS", "ImageReadError", "find_images", "images_by_stem", "read_image", "write_tiff",
    "OutputPlan", "PlanError", "atomic_path", "check_target", "plan_outputs",
]
