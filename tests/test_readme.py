"""The README's Python blocks run as written, with the network's training shortened so the suite stays fast."""

import dataclasses
import re
from pathlib import Path

import pytest

from igtt import config as config_module
from igtt import model as model_module

from .conftest import TINY

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@dataclasses.dataclass(frozen=True)
class ShortConfig(config_module.Config):
    """``Config`` with TINY's training sizes as its defaults (what ``igtt.IGTT()`` starts from)."""

    steps_per_epoch: int = TINY["steps_per_epoch"]
    crop_size: int = TINY["crop_size"]
    batch_size: int = TINY["batch_size"]
    decoder_channels: tuple = TINY["decoder_channels"]
    tile_size: int = TINY["tile_size"]
    tile_overlap: int = TINY["tile_overlap"]


def test_the_readme_has_python_examples():
    assert BLOCKS


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path, monkeypatch, tiny_cli):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(model_module, "Config", ShortConfig)
    for kind in config_module.KIND_DEFAULTS:
        monkeypatch.setitem(config_module.KIND_DEFAULTS, kind, {**config_module.KIND_DEFAULTS[kind], "epochs": 2})
    exec(compile(BLOCKS[index], f"README.md python block {index + 1}", "exec"), {"__name__": "__readme__"})
