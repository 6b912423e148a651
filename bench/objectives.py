"""The GAN objectives as data: what each one asks of the data, the critic and the training step.

One typed record per objective (docs/variants.md, "Objectives"); the harness, the neutral training
step (bench/step.py), the input stream, FLOP model and evaluation read these fields instead of
testing objective or variant names. The loss formulas themselves are each framework's primitives
(`impls_<framework>/losses.py`), keyed by `name`.
"""

from __future__ import annotations

from dataclasses import dataclass

N_CLASSES = 10  # the label classes of every dataset the objectives with labels are defined on


@dataclass(frozen=True)
class Objective:
    name: str
    d_out: int = 1  # D's output width: 1, or N_CLASSES + 1 (K real classes + "fake")
    labels: bool = False  # D's loss uses class labels
    gp_lambda: float = 0.0  # gradient penalty weight; 0: no penalty (and no interpolation weights drawn)
    clip: float = 0.0  # D weights clipped to [-clip, clip] after each D update; 0: no clipping
    conditional: bool = False  # G takes a one-hot class label; samples are drawn per class
    semi_supervised: bool = False  # D doubles as a classifier: its test accuracy is a metric

    @property
    def gp(self) -> bool:
        return self.gp_lambda > 0

    @property
    def n_classes(self) -> int:
        return N_CLASSES if self.labels else 0


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("mm"),
        Objective("ns"),
        Objective("ls"),
        Objective("wgan", clip=0.01),
        Objective("wgan-gp", gp_lambda=10.0),
        Objective("ssgan", d_out=N_CLASSES + 1, labels=True, semi_supervised=True),
        Objective("cgan", d_out=N_CLASSES + 1, labels=True, conditional=True),
    )
}


def get_objective(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise KeyError(f"unknown objective {name!r}; known: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]
