"""Label types of the study, written as short specs::

    CL                      clean labels
    RCL:flip=0.45           every pixel leaves its class with probability 0.45
    RCL:p10=0.7,p01=0.3     binary flips 0 -> 1 and 1 -> 0 (here d = 0: rank 1)
    RCL:ntm=a,b;c,d         any NTM, rows separated by ";" (Q[k, i] = P(noisy k | true i))
    RCL:sample=0.1          keep 10 % of the foreground, ignore the rest in the loss (papers)
    RCL:sample_exact=0.1    keep exactly 10 %, the rest becomes background (reference code)
    PCL:skeleton | PCL:dilate[=N] | PCL:erode[=N]   3x3 element, N iterations (default 1)
    RL:0.5                  every pixel foreground with probability 0.5

Add ``,dynamic`` to a random spec (RCL, RL) to draw fresh labels every epoch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from . import label_noise as noise

__all__ = ["LabelSpec", "parse_spec"]

_KINDS = ("CL", "RCL", "PCL", "RL")


@dataclass(frozen=True)
class LabelSpec:
    """One label type of the study, parsed from text such as ``RCL:flip=0.45``."""

    text: str
    kind: str
    params: tuple[tuple[str, str], ...] = ()
    dynamic: bool = False

    @property
    def name(self) -> str:
        return self.text + (" (dynamic)" if self.dynamic and "dynamic" not in self.text else "")

    @property
    def has_valid_mask(self) -> bool:
        """Whether :meth:`make` also gives the pixels that count (random sampling with an ignore mask)."""
        return self.kind == "RCL" and "sample" in dict(self.params)

    @property
    def random(self) -> bool:
        return self.kind in ("RCL", "RL")

    def ntm(self, n_classes: int) -> np.ndarray | None:
        """The NTM these labels are synthesised with, where one describes them (``None`` for CL, PCL, sampling)."""
        p = dict(self.params)
        if self.kind == "RL":
            rate = float(p["p"])
            return np.array([[1 - rate, 1 - rate], [rate, rate]])
        if self.kind != "RCL":
            return None
        if "flip" in p:
            return noise.symmetric_ntm(n_classes, float(p["flip"]))
        if "p10" in p or "p01" in p:
            return noise.binary_ntm(float(p.get("p10", 0)), float(p.get("p01", 0)))
        if "ntm" in p:
            return np.array([[float(v) for v in row.split(",")] for row in p["ntm"].split(";")])
        if "sample_exact" in p:
            rate = float(p["sample_exact"])
            return np.array([[1.0, 1 - rate], [0.0, rate]])
        return None  # sampling with an ignore mask: the counted pixels are clean

    def make(self, clean: np.ndarray, rng: np.random.Generator, n_classes: int = 2) -> tuple[np.ndarray, np.ndarray | None]:
        """Noisy labels for one clean class map, and the pixels that count in the loss (``None``: all)."""
        p = dict(self.params)
        clean = np.asarray(clean)
        if self.kind == "CL":
            return clean.copy(), None
        if self.kind == "RL":
            return noise.random_label(clean.shape, float(p["p"]), rng).astype(clean.dtype), None
        if self.kind == "PCL":
            op = p.get("op")
            if op == "skeleton":
                return noise.skeleton(clean).astype(clean.dtype), None
            n = int(p.get("n", 1))
            morph = noise.dilate if op == "dilate" else noise.erode
            return morph(clean, iterations=n).astype(clean.dtype), None
        if "sample" in p:
            return noise.random_sample(clean, float(p["sample"]), rng)
        if "sample_exact" in p:
            return noise.random_sample_exact(clean, float(p["sample_exact"]), rng), None
        return noise.apply_ntm(clean, self.ntm(n_classes), rng), None


def _pieces(rest: str) -> list[str]:
    """Split ``a=1,b=2,dynamic`` on commas, keeping the commas inside an ``ntm=`` matrix."""
    pieces: list[str] = []
    for piece in (s.strip() for s in rest.split(",")) if rest else ():
        if pieces and re.fullmatch(r"[0-9.;\s-]+", piece) and "=" in pieces[-1]:
            pieces[-1] += "," + piece  # a further number of the matrix before it
        elif piece:
            pieces.append(piece)
    return pieces


def parse_spec(text: str, *, dynamic: bool = False) -> LabelSpec:
    """Parse a label spec (see the module docstring); ``dynamic`` applies to random specs.

    Raises
    ------
    ValueError
        An unknown kind, parameter or value.
    """
    raw = text.strip()
    kind, _, rest = raw.partition(":")
    kind = kind.upper()
    try:
        if kind not in _KINDS:
            raise ValueError(f"the kind must be one of {', '.join(_KINDS)}")
        pieces = _pieces(rest)
        is_dynamic = dynamic or "dynamic" in pieces
        pieces = [x for x in pieces if x != "dynamic"]
        if "dynamic" in rest and kind not in ("RCL", "RL"):
            raise ValueError("only random labels (RCL, RL) can be dynamic")
        params: dict[str, str] = {}
        if kind == "CL" and pieces:
            raise ValueError("CL takes no parameters")
        if kind == "RL":
            if len(pieces) != 1:
                raise ValueError("RL needs one probability, e.g. RL:0.5")
            params["p"] = pieces[0].removeprefix("p=")
        if kind == "PCL":
            op, _, n = pieces[0].partition("=") if len(pieces) == 1 else ("", "", "")
            if op not in ("skeleton", "dilate", "erode") or (op == "skeleton" and n):
                raise ValueError("PCL needs skeleton, dilate[=N] or erode[=N]")
            params["op"] = op
            if n:
                if int(n) < 1:
                    raise ValueError("the number of iterations must be at least 1")
                params["n"] = str(int(n))
        if kind == "RCL":
            for piece in pieces:
                key, eq, value = piece.partition("=")
                if not eq or key not in ("flip", "p10", "p01", "ntm", "sample", "sample_exact"):
                    raise ValueError(f"unknown parameter {piece!r}; use flip=, p10=, p01=, ntm=, sample= or sample_exact=")
                params[key] = value
            if not params:
                raise ValueError("RCL needs flip=, p10=/p01=, ntm=, sample= or sample_exact=")
        for key, value in params.items():
            if key not in ("ntm", "op", "n"):
                noise.check_probability(key, float(value))
        spec = LabelSpec(raw, kind, tuple(params.items()), dynamic=is_dynamic and kind in ("RCL", "RL"))
        q = spec.ntm(2)
        if q is not None:
            noise.check_ntm(q)
    except ValueError as exc:
        raise ValueError(f"label spec {text!r}: {exc}") from None
    return spec
