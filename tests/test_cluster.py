"""Prediction on a dask cluster: the same planned jobs, the same masks, byte for byte; a lost worker is survived."""

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

distributed = pytest.importorskip("distributed")

from igtt import IGTT  # noqa: E402
from igtt.cli import app  # noqa: E402
from igtt.io.synthetic import make_nuclei  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


@pytest.fixture
def folder_and_model(tmp_path, tiny_config):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(6):
        tifffile.imwrite(folder / f"img{i}.tif", make_nuclei((96, 112), n_nuclei=6, radius=(6, 10), rng=i)[0])
    (folder / "broken.tif").write_bytes(b"not a tiff")
    model = IGTT(tiny_config).fit([make_nuclei((96, 96), n_nuclei=6, radius=(6, 10), rng=9)[0]]).save(tmp_path / "m.igtt")
    return folder, model


def predict(folder, model, out, *extra):
    result = runner.invoke(app, ["predict", str(folder), "--model", str(model), "--out", str(out), "--device", "cpu", *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def test_cluster_masks_are_byte_identical_to_a_local_run(tmp_path, folder_and_model, cluster):
    folder, model = folder_and_model
    local = predict(folder, model, tmp_path / "local")
    remote = predict(folder, model, tmp_path / "remote", "--scheduler", cluster.scheduler_address)
    assert local.exit_code == remote.exit_code == 1  # the broken file, skipped in both
    assert "broken.tif" in remote.output and "Traceback" not in remote.output
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert names == ["igtt-run"] + [f"img{i}.tif" for i in range(6)] + ["report.csv"] == sorted(p.name for p in (tmp_path / "remote").iterdir())
    for name in names[1:-1]:
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "remote" / name).read_bytes()
    rows = [sorted((tmp_path / out / "report.csv").read_text().splitlines()) for out in ("local", "remote")]
    assert rows[0] == rows[1] and len(rows[0]) == 7  # the same checks, in the order the files completed


def test_a_worker_lost_mid_run_is_retried(tmp_path, folder_and_model, cluster):
    folder, model = folder_and_model
    with distributed.Client(cluster.scheduler_address) as client:
        victim = next(iter(client.scheduler_info()["workers"]))
        future = client.submit(lambda: __import__("time").sleep(2), workers=[victim], pure=False)  # noqa: F841
        client.run(lambda: __import__("threading").Timer(1.5, __import__("os")._exit, (1,)).start(), workers=[victim])
        result = predict(folder, model, tmp_path / "out", "--scheduler", cluster.scheduler_address)
        client.wait_for_workers(2, timeout=60)  # the nanny restarts the lost worker
    assert result.exit_code == 1 and "broken.tif" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["igtt-run"] + [f"img{i}.tif" for i in range(6)] + ["report.csv"]
    assert all(np.asarray(tifffile.imread(p)).max() in (0, 255) for p in (tmp_path / "out").glob("*.tif"))


def test_an_unreachable_scheduler_fails_before_any_work(tmp_path, folder_and_model):
    folder, model = folder_and_model
    result = predict(folder, model, tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 1 and "cannot reach the dask scheduler" in result.output
    assert not any((tmp_path / "out").glob("*.tif"))


ADDRESSES = {
    "no port": ("tcp://127.0.0.1", "not a scheduler address"),
    "empty": ("", "not a scheduler address"),
    "port not a number": ("tcp://host:port", "not a scheduler address"),
    "a web address": ("http://127.0.0.1:8787", "http:// scheme is not supported"),
    "ucx": ("ucx://127.0.0.1:8786", "ucx:// scheme is not supported"),
    "tls without its settings": ("tls://127.0.0.1:9", "cannot reach the dask scheduler"),
    "an unknown host": ("tcp://no-such-host.invalid:8786", "cannot reach the dask scheduler"),
}


@pytest.mark.parametrize("case", sorted(ADDRESSES))
def test_a_bad_scheduler_address_is_one_line_before_any_work(tmp_path, folder_and_model, case):
    folder, model = folder_and_model
    address, words = ADDRESSES[case]
    result = predict(folder, model, tmp_path / "out", "--scheduler", address)
    assert result.exit_code == 1 and words in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not any((tmp_path / "out").glob("*.tif"))


def test_a_listener_that_is_no_scheduler_is_one_line_not_a_hang(tmp_path, folder_and_model):
    import socket

    folder, model = folder_and_model
    with socket.socket() as silent:  # accepts connections, never answers dask's handshake
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        result = predict(folder, model, tmp_path / "out", "--scheduler", f"tcp://127.0.0.1:{silent.getsockname()[1]}")
    assert result.exit_code == 1 and "cannot reach the dask scheduler" in result.output and "no answer" in result.output
