"""Training reads a bounded sample spread over the folder; prediction reads each file once, in turn."""

import numpy as np
import pytest
import tifffile

from igtt import Config, batch
from igtt.batch import step
from igtt.batch.events import Trained, Written
from igtt.batch.sample import spread_order
from igtt.io.synthetic import make_nuclei

from .conftest import TINY

SHAPE = (64, 80)


@pytest.mark.parametrize("n", [1, 2, 7, 12, 100])
def test_spread_order_is_a_permutation_whose_prefixes_spread(n):
    order = spread_order(n)
    assert sorted(order) == list(range(n))
    if n >= 12:
        for k in (2, 4, 8):  # the first k leave no gap much wider than n / k
            picks = sorted(order[:k])
            gaps = np.diff(picks + [picks[0] + n])
            assert gaps.max() <= n / k + 1


def _plate(root, wells=4, fields=3):
    for w in range(wells):
        for f in range(fields):
            image, _ = make_nuclei(SHAPE, n_nuclei=4, radius=(5, 8), dtype=np.uint16, rng=10 * w + f)
            (root / f"well{w}").mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(root / f"well{w}" / f"field{f}.tif", image)


def _counting_reads(monkeypatch):
    reads = []
    real = step.read_image

    def counted(path, **kwargs):
        reads.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(step, "read_image", counted)
    return reads


def test_training_reads_only_a_spread_sample_and_prediction_reads_each_file_once(tmp_path, monkeypatch):
    _plate(tmp_path / "plate")
    jobs = batch.collect([tmp_path / "plate"], recursive=True, out=tmp_path / "out")
    pending, _ = batch.plan(jobs, tmp_path / "out")
    reads = _counting_reads(monkeypatch)
    budget = 4 * SHAPE[0] * SHAPE[1]  # four of the twelve images
    read_when_trained = None
    for event in batch.run(pending, config=Config(**TINY), reading={}, train_pixels=budget):
        if isinstance(event, Trained):
            read_when_trained = list(reads)
    assert len(read_when_trained) == 4
    assert sorted(p.parent.name for p in read_when_trained) == ["well0", "well1", "well2", "well3"]  # one per well
    assert sorted(reads) == sorted(job.source for job in jobs)  # every file read once, the sample not again
    assert len(list((tmp_path / "out").rglob("*.tif"))) == 12


def test_the_sample_is_the_same_on_a_resumed_run(tmp_path, monkeypatch):
    _plate(tmp_path / "plate", wells=2)
    jobs = batch.collect([tmp_path / "plate"], recursive=True, out=tmp_path / "out")
    reads = _counting_reads(monkeypatch)
    budget = 2 * SHAPE[0] * SHAPE[1]
    samples = []
    for _ in range(2):
        reads.clear()
        for event in batch.run(jobs, config=Config(**TINY), reading={}, train_pixels=budget, predict=False):
            if isinstance(event, Trained):
                samples.append(list(reads))
            assert not isinstance(event, Written)
    assert samples[0] == samples[1] and len(samples[0]) == 2
    assert all(job.image is None for job in jobs)  # read for training only: freed once trained


def test_training_length_follows_the_pixels_there_are():
    from igtt.training.train import MIN_STEPS, fewer_steps

    config = Config(steps_per_epoch=25, crop_size=256, batch_size=4, lr=1e-3)
    few = [np.zeros((256, 256), np.float32)] * 4  # read whole by every step
    steps, fast = fewer_steps(few, config)
    assert MIN_STEPS <= steps < 25 and fast.lr > config.lr  # fewer, larger steps
    many = [np.zeros((520, 696), np.float32)] * 100  # a dev-set-sized folder trains as configured
    assert fewer_steps(many, config) == (25, config)
    assert fewer_steps(few, config.replace(optimizer="sgd"))[1].lr == config.lr  # only Adam's rate is scaled
