"""Early-stopping rules as small state machines whose state survives a resume."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class Decision:
    save: bool  # this epoch's weights become the restored checkpoint
    stop: bool  # training ends after this epoch


@dataclass
class AsCoded:
    """The original code's rule.

    A train-loss gate first: validation is ignored until the train loss has fallen, epoch over
    epoch, `gate_patience` times in a row (with a steadily falling loss the gate opens at epoch 6).
    From then on: a validation loss strictly above the best (or NaN) counts towards `patience`,
    anything else (<= best) becomes the new checkpoint.
    """

    patience: int
    gate_patience: int
    gate_count: int = 0
    prev_train: float | None = None
    best: float | None = None
    count: int = 0

    def step(self, val_loss: float, train_loss: float) -> Decision:
        if self.gate_count < self.gate_patience:
            if self.prev_train is not None:
                self.gate_count = self.gate_count + 1 if train_loss < self.prev_train else 0
            self.prev_train = train_loss
            if self.gate_count < self.gate_patience:
                return Decision(save=False, stop=False)
        return self._validate(val_loss)

    def _validate(self, val_loss: float) -> Decision:
        # a NaN validation loss is never an improvement (it compares False with everything)
        if math.isnan(val_loss) or (self.best is not None and val_loss > self.best):
            self.count += 1
            return Decision(save=False, stop=self.count >= self.patience)
        self.best, self.count = val_loss, 0
        return Decision(save=True, stop=False)

    def state(self) -> dict:
        return asdict(self)


@dataclass
class Patience(AsCoded):
    """The report's rule: patience on the validation loss from the first epoch (no gate)."""

    gate_patience: int = 0

    def step(self, val_loss: float, train_loss: float) -> Decision:
        return self._validate(val_loss)


@dataclass
class NoStop:
    """Train every epoch; the last epoch is the result (the overfitting study)."""

    patience: int = 0
    gate_patience: int = 0

    def step(self, val_loss: float, train_loss: float) -> Decision:
        return Decision(save=True, stop=False)

    def state(self) -> dict:
        return asdict(self)


RULES = {"as_coded": AsCoded, "patience": Patience, "none": NoStop}


def make(rule: str, patience: int, gate_patience: int, state: dict | None = None):
    """A fresh rule, or one restored from `state`."""
    if rule not in RULES:  # params are validated against RULES; this guards direct callers
        raise ValueError(f"unknown stopping rule {rule!r}; known: {', '.join(RULES)}")
    obj = RULES[rule](patience=patience, gate_patience=gate_patience)
    for key, value in (state or {}).items():
        setattr(obj, key, value)
    return obj
