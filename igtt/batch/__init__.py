"""The batch engine: inputs -> planned jobs -> read -> train or load -> predict -> write, as events.

Every front end runs images through here: the command line (files,
folders and zarr stores, written atomically), the napari widget (layers in
memory) and any scaled-out run. Planning (:mod:`.jobs`) happens before any
work, so a run that cannot succeed fails in its first second
(:class:`PlanError`, one line); during the run (:mod:`.engine`) a bad file
is reported (:class:`Skipped`, :class:`Failed`) and the batch goes on. The
caller renders the events; closing the generator, or a ``stop`` request,
ends the run.
"""

from .engine import run
from .events import Failed, Report, Skipped, Trained, Written
from .step import keep_in_memory, write_outputs
from .jobs import Job, PlanError, check_model_target, check_writable, collect, hint_files, plan

__all__ = [
    "Job", "PlanError", "collect", "plan", "check_writable", "check_model_target", "hint_files",
    "Skipped", "Trained", "Written", "Failed", "Report", "run", "write_outputs", "keep_in_memory",
]
