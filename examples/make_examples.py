"""Write the example images in this folder with igtt's own synthetic generator.

    python examples/make_examples.py

Creates ``examples/nuclei/`` (bright nuclei, 16-bit) and
``examples/filaments/`` (dark filament networks, 8-bit), each with a
``truth/`` subfolder holding the true masks for ``igtt evaluate``.
"""

from pathlib import Path

import numpy as np
import tifffile

from igtt.io.synthetic import make_filaments, make_nuclei

HERE = Path(__file__).resolve().parent


def main():
    sets = {
        "nuclei": lambda i: make_nuclei((256, 256), n_nuclei=20, rng=100 + i),
        "filaments": lambda i: make_filaments((256, 256), dark=True, dtype=np.uint8, rng=200 + i),
    }
    for name, make in sets.items():
        (HERE / name / "truth").mkdir(parents=True, exist_ok=True)
        for i in range(4):
            image, mask = make(i)
            tifffile.imwrite(HERE / name / f"{name}_{i}.tif", image, compression="zlib")
            tifffile.imwrite(HERE / name / "truth" / f"{name}_{i}.tif", mask.astype(np.uint8) * 255, compression="zlib")
    print(f"wrote examples to {HERE}")


if __name__ == "__main__":
    main()
