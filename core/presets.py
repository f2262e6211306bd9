"""The training protocols by name: ``abdn`` (the paper's) and ``modern``; see ``core/train.py``
for what each knob does in the loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Preset:
    """A training protocol; see the module docstring."""

    name: str
    description: str
    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    batch_size_by_backbone: dict[str, int] = field(default_factory=dict)
    weight_decay: float = 0.0
    shuffle: str = "epoch"  # "once": one seeded permutation kept for every epoch (ABDN)
    validation: str = "test"  # "test": the test split each epoch; "holdout": part of train
    holdout_fraction: float = 0.15
    selection: str = "last"  # "last" epoch, or "best" validation accuracy
    patience: int | None = None
    grad_clip: float | None = None
    cosine: bool = False

    def batch_size_for(self, backbone: str) -> int:
        return self.batch_size_by_backbone.get(backbone, self.batch_size)

    def make_optimizer(self, params, lr: float) -> torch.optim.Optimizer:
        import torch  # here, so that configs are checked without loading PyTorch

        if self.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7,
                                       weight_decay=self.weight_decay)
        return torch.optim.AdamW(params, lr=lr, weight_decay=self.weight_decay)


PRESETS: dict[str, Preset] = {
    "abdn": Preset(
        name="abdn",
        description="ABDN paper: RMSprop 1e-3, batch 128 (16 for ResNet50/Xception), 60 epochs, "
                    "last-epoch test accuracy",
        optimizer="rmsprop", lr=1e-3, batch_size=128, epochs=60,
        batch_size_by_backbone={"resnet50": 16, "xception": 16},
        shuffle="once", validation="test", selection="last",
    ),
    "modern": Preset(
        name="modern",
        description="AdamW + cosine, 15% validation hold-out, best-validation checkpoint, "
                    "early stopping (patience 10)",
        optimizer="adamw", lr=3e-4, batch_size=32, epochs=100, weight_decay=0.05,
        shuffle="epoch", validation="holdout", selection="best", patience=10, grad_clip=1.0,
        cosine=True,
    ),
}
