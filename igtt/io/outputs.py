"""Writing without losing anything: every output planned before any work, every file written atomically.

Every command that writes goes through here. :class:`OutputPlan` checks all
of a command's outputs together, before any work: none lands on an input
(compared by file identity, so also through symbolic and hard links and on
case-insensitive file systems), none is a folder or below a file, no two
inputs share one, and none exists unless the user said ``--overwrite``.
:func:`atomic_path` then writes each through a hidden temporary file that is
renamed into place, so an interrupted run leaves no half-written output.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "PlanError",
    "OutputPlan",
    "plan_outputs",
    "check_target",
    "check_writable",
    "atomic_path",
    "atomic_folder",
    "is_model_file",
    "remove_stale_temporaries",
    "TEMP_PREFIX",
]

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process umask once: temporary files are created 0600, outputs should not be

TEMP_PREFIX = ".igtt-"  # temporary files: TEMP_PREFIX + name + "." + owner + random + ".part"
_HOST = f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFF:04x}"  # which machine owns a temporary
_STALE_SECONDS = 24 * 3600  # a temporary this old is removed whoever made it


class PlanError(ValueError):
    """A run that cannot start; the message is one line naming the path and the problem."""


def _identity(path: Path) -> tuple[int, int] | None:
    """The file's (device, inode): the same for every name of one file (links, other letter case)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _case_insensitive(folder: Path) -> bool:
    """Whether names in ``folder`` (or its nearest existing parent) ignore letter case (macOS, Windows)."""
    for p in (folder, *folder.parents):
        if p.exists() and p.name.swapcase() != p.name:
            try:
                return os.path.samefile(p, p.with_name(p.name.swapcase()))
            except OSError:
                return False
    return False


def _nearest_existing(path: Path) -> Path:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


class OutputPlan:
    """The outputs of one command, checked together before any work.

    Parameters
    ----------
    inputs : iterable of path
        What the command reads: never written over. A folder input (a zarr
        store) protects everything inside it.
    overwrite : bool
        Whether existing outputs may be replaced (``--overwrite``).

    Use :meth:`add` for each output, then :meth:`check`; both raise
    :class:`PlanError` with one line naming the path and the problem.
    """

    def __init__(self, inputs: Iterable[str | Path] = (), *, overwrite: bool = False):
        self.overwrite = overwrite
        self._inputs: dict[object, Path] = {}
        self._folders: list[tuple[Path, Path]] = []  # input folders (zarr stores), resolved
        for path in map(Path, inputs):
            for key in (_identity(path), path.resolve()):
                if key is not None:
                    self._inputs[key] = path
            if path.is_dir():
                self._folders.append((path.resolve(), path))
        self._owner: dict[str, tuple[Path, str]] = {}
        self._insensitive: dict[Path, bool] = {}
        self.clashes: list[str] = []
        self.existing: list[Path] = []

    def _key(self, path: Path) -> str:
        resolved = path.resolve()
        parent = resolved.parent
        if parent not in self._insensitive:
            self._insensitive[parent] = _case_insensitive(parent)
        return str(resolved).casefold() if self._insensitive[parent] else str(resolved)

    def add(self, path: str | Path, source: object = "", *, kind: str = "file") -> bool:
        """Plan one output; ``source`` names what makes it (for the message when two share it).

        ``kind``: ``"file"``; ``"store"``, a folder written whole (an OME-Zarr
        store, which may replace a store); ``"model"``, a file that may
        replace only another saved model. Returns whether it exists already.
        """
        path = Path(path)
        resolved = path.resolve()
        clash = self._inputs.get(_identity(path)) or self._inputs.get(resolved)
        if clash is not None:
            raise PlanError(f"{path}: is one of the inputs; refusing to overwrite an input, choose another output")
        inside = next((given for folder, given in self._folders if resolved.is_relative_to(folder)), None)
        if inside is not None:
            raise PlanError(f"{path}: is inside the input {inside}; refusing to write there, choose another output")
        if path.is_dir() and kind != "store":
            raise PlanError(f"{path}: is a folder; move it or choose another output")
        if path.exists() and not path.is_dir() and kind == "store":
            raise PlanError(f"{path}: is a file, not a zarr store; move it or choose another output")
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise PlanError(f"{path}: cannot create it, {blocker} is a file, not a folder")
        parent = _nearest_existing(path)
        if not os.access(parent, os.W_OK):
            raise PlanError(f"{path}: cannot write there (no permission in {parent})")
        if kind == "model" and path.is_file() and not is_model_file(path):
            raise PlanError(f"{path}: exists and is not an igtt model; refusing to write over it")
        key = self._key(path)
        if key in self._owner:
            self.clashes.append(f"{self._owner[key][1]} and {source} -> {path}")
        self._owner[key] = (path, str(source))
        exists = path.exists()
        if exists:
            self.existing.append(path)
        return exists

    def check(self, *, existing: Iterable[Path] | None = None, resume_hint: str = "", clash_hint: str = "rename the inputs") -> None:
        """Refuse shared outputs (all listed) and existing ones (without ``overwrite``).

        ``existing``: the existing outputs that would be replaced (default:
        every one added); ``resume_hint`` is added to that message.
        """
        if self.clashes:
            listed = "; ".join(self.clashes[:5]) + (f"; and {len(self.clashes) - 5} more" if len(self.clashes) > 5 else "")
            raise PlanError(f"{len(self.clashes)} output name(s) would be shared, nothing written: {listed}; {clash_hint}")
        replaced = list(self.existing if existing is None else existing)
        if replaced and not self.overwrite:
            more = f" (and {len(replaced) - 1} more)" if len(replaced) > 1 else ""
            raise PlanError(f"{replaced[0]} exists{more}; use --overwrite to replace it{resume_hint}")


def plan_outputs(
    outputs: Iterable[tuple[str | Path, object]], *, inputs: Iterable[str | Path] = (), overwrite: bool = False, kind: str = "file"
) -> list[Path]:
    """Check ``(path, source)`` outputs with one :class:`OutputPlan`; return the paths.

    Raises
    ------
    PlanError
        An output is an input or inside one, a folder, below a file, shared
        by two sources, or exists without ``overwrite``.
    """
    plan = OutputPlan(inputs, overwrite=overwrite)
    paths = []
    for path, source in outputs:
        plan.add(path, source, kind=kind)
        paths.append(Path(path))
    plan.check()
    return paths


def check_target(path: str | Path, *, protected: Iterable[str | Path] = (), overwrite: bool = False, kind: str = "file") -> Path:
    """Check one output (see :class:`OutputPlan`): ``protected`` are the inputs; returns ``path``."""
    return plan_outputs([(path, "")], inputs=protected, overwrite=overwrite, kind=kind)[0]


def check_writable(folder: str | Path) -> None:
    """Create ``folder`` if needed and make sure files can be written in it, or PlanError."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}write-test.", suffix=".part", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PlanError(f"cannot write to output folder {folder}: {exc.strerror or exc}") from None


def _temporary_prefix(path: Path) -> str:
    # hidden, recognisable, owned (machine and process) and short enough for a 255-byte name limit
    return f"{TEMP_PREFIX}{path.name[:80]}.{_HOST}-{os.getpid()}-"


def _finish(tmp: Path, path: Path, replace: bool) -> None:
    """Move a complete temporary into place; without ``replace`` never over a file that appeared meanwhile."""
    if replace:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails, atomically, if path exists
    except FileExistsError:
        raise FileExistsError(f"{path}: appeared while igtt was running (another run?); kept it, use --overwrite to replace") from None
    except OSError:  # a file system without hard links
        if path.exists():
            raise FileExistsError(f"{path}: appeared while igtt was running (another run?); kept it, use --overwrite to replace") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


@contextmanager
def atomic_path(path: str | Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on failure delete it.

    A run killed mid-write leaves the temporary file's name (hidden, in the
    same folder) at worst, never a half-written ``path``. ``replace=False``
    refuses (FileExistsError) to replace a file that appeared since planning.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        _finish(Path(tmp), path, replace)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(path: str | Path, *, replace: bool = True) -> Iterator[Path]:
    """A temporary folder beside ``path``, renamed to ``path`` on success and removed on failure.

    With ``replace`` an existing ``path`` goes only once the new one is
    complete; without, a ``path`` that appeared meanwhile is kept (FileExistsError).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(path), suffix=".part", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            if not replace:
                raise FileExistsError(f"{path}: appeared while igtt was running (another run?); kept it, use --overwrite to replace")
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def is_model_file(path: str | Path) -> bool:
    """Whether ``path`` looks like a file written by ``torch.save`` (a zip archive holding ``data.pkl``)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _abandoned(tmp: Path) -> bool:
    """A temporary whose run is over: made on this machine by a process that has ended, older than a day, or unowned."""
    try:
        if time.time() - tmp.lstat().st_mtime > _STALE_SECONDS:
            return True
    except OSError:
        return False
    host, _, pid = tmp.name[: -len(".part")].rsplit(".", 1)[-1].partition("-")
    pid = pid.partition("-")[0]
    if not pid.isdigit():  # no owner in the name (an older igtt's): the next run cleans it
        return True
    if host != _HOST:  # another machine's, on shared storage: left to it
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        pass
    return False


def remove_stale_temporaries(folders: Iterable[str | Path]) -> int:
    """Delete temporary files (and zarr folders) that ended runs left in ``folders`` (not their subfolders).

    A temporary of a run still going (this machine, its process alive; or
    another machine's, less than a day old) is left alone, so two runs can
    write into one folder. Returns how many were removed.
    """
    removed = 0
    for folder in {Path(f) for f in folders}:
        for tmp in folder.glob(f"{TEMP_PREFIX}*.part") if folder.is_dir() else ():
            if not _abandoned(tmp):
                continue
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() and not tmp.is_symlink() else tmp.unlink(missing_ok=True)
            removed += 1
    return removed
