"""A second executor of the same planned jobs: prediction on a running dask cluster (``dask.distributed``).

Each file is one task; the model travels once per worker (as the bytes of
its model file, the result of a task of its own, so a worker lost with it
makes the scheduler run that task again: scattered data would be lost for
good) and is loaded once per worker process; workers read and
write the files themselves, with the same atomic writes as a local run, so
inputs and outputs must be on storage the workers share. A task whose
worker dies is retried on another (``retries``); ``--skip-existing``
resumes anything that was not written. Needs ``pip install 'igtt[distributed]'``.
"""

from __future__ import annotations

import hashlib
import socket
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..io.files import error_line
from .events import Failed
from .jobs import Job, PlanError
from .step import predict_job

__all__ = ["predict_on_cluster", "connect"]

_MODELS: dict[str, object] = {}  # per worker process: the model of the run, by the hash of its bytes


_SCHEMES = ("tcp", "tls", "ws", "wss")  # network schemes a scheduler on another machine can have
_TIMEOUT = 10  # seconds to reach the scheduler


def _check_reachable(address: str) -> None:
    """The address has a network scheme, a host and a port, and something listens there; else PlanError.

    Checked with a socket and dask's handshake before any ``Client`` is
    made: a client facing a listener that never answers waits forever, and
    one that fails half-made prints tracebacks when it is collected.
    """
    import asyncio

    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address.strip())
        host, port = parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise PlanError(f"--scheduler {address!r} is not a scheduler address such as tcp://host:8786 ({exc})") from None
    if scheme not in _SCHEMES:
        raise PlanError(f"--scheduler {address!r}: the {scheme}:// scheme is not supported; use tcp://host:port (or tls, ws, wss)")
    try:
        socket.create_connection((host, port), timeout=_TIMEOUT).close()
        asyncio.run(asyncio.wait_for(_handshake(address.strip()), _TIMEOUT + 1))
    except Exception as exc:  # refused, unknown host, timed out, or something that is no dask scheduler
        raise PlanError(f"cannot reach the dask scheduler at {address} ({'no answer' if isinstance(exc, TimeoutError) else error_line(exc)})") from None


async def _handshake(address: str) -> None:
    """Connect and exchange dask's handshake (a plain listener never answers it; a bare Client would wait forever)."""
    from distributed.comm import connect as open_comm
    from distributed.security import Security

    comm = await open_comm(address, timeout=_TIMEOUT, **Security().get_connection_args("client"))
    await comm.close()


def connect(address: str):
    """A ``distributed.Client`` for the scheduler at ``address``, or PlanError in one line."""
    try:
        from distributed import Client
    except ImportError:
        raise PlanError("--scheduler needs dask.distributed: pip install 'igtt[distributed]'") from None
    _check_reachable(address)
    try:
        return Client(address.strip(), timeout=f"{_TIMEOUT}s", set_as_default=False)
    except Exception as exc:  # a listener that is no scheduler, TLS without its settings: each library's own type
        raise PlanError(f"cannot use the dask scheduler at {address} ({error_line(exc)})") from None


def _model_bytes(model) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return Path(model.save(Path(tmp) / "model.igtt")).read_bytes()


def _load_once(blob: bytes, key: str):
    """The run's model on this worker, loaded from its bytes the first time a task needs it."""
    if key not in _MODELS:
        from ..model import IGTT

        _MODELS.clear()  # one run's model at a time
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.igtt"
            path.write_bytes(blob)
            _MODELS[key] = IGTT.load(path, device="cpu")
    return _MODELS[key]


def _same(blob: bytes) -> bytes:
    return blob


def _task(job: Job, blob: bytes, key: str, reading: dict, probabilities: bool):
    return predict_job(job, _load_once(blob, key), reading=reading, probabilities=probabilities)


def predict_on_cluster(
    jobs: Sequence[Job], model, address: str, *, reading: dict, probabilities: bool = False, retries: int = 3
) -> Iterator[object]:
    """Predict every job on the cluster; yield each outcome (the job, or Skipped/Failed) as it completes."""
    import dask
    from distributed import as_completed

    client = connect(address)
    with client, client.as_current():  # futures and as_completed find this client
        blob = _model_bytes(model)
        key = hashlib.sha256(blob).hexdigest()
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1GB"}):  # the model, once
            shared = client.submit(_same, blob, key=f"igtt-model-{key[:12]}", pure=False)
        futures = {
            client.submit(_task, job, shared, key, reading, probabilities, key=f"igtt-{key[:12]}-{i}", retries=retries, pure=False): job
            for i, job in enumerate(jobs)
        }
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # a worker lost more often than retries allow, or an unexpected error there
                job = futures[future]
                yield Failed(job, f"{job.source}: not written (on the cluster: {str(exc).splitlines()[0] or type(exc).__name__})")
