"""BN statistics over groups of a batch, as on the papers' two GPUs.

He et al. (2015) trained the CIFAR nets "with a mini-batch size of 128 on two GPUs": each GPU's
BN layers normalised its own 64 images. ``trainer.bn_group=64`` does the same on one device: in
training, every BN layer normalises each run of 64 consecutive images of the batch with that
group's own statistics, and its running statistics move by the mean of the groups' (as if each
GPU updated them and the two were averaged). Evaluation uses the running statistics: unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class GroupedBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm2d whose training statistics are those of each ``group`` of images."""

    def __init__(self, num_features: int, group: int, **kwargs: object) -> None:
        super().__init__(num_features, **kwargs)  # type: ignore[arg-type]
        self.group = group

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, group={self.group}"

    def forward(self, x: Tensor) -> Tensor:
        n, c, *spatial = x.shape
        if not self.training or n == self.group:
            return super().forward(x)
        if n % self.group:
            raise ValueError(f"a batch of {n} images does not split into groups of {self.group}")
        groups = n // self.group
        # the groups side by side as channels: one batch_norm call normalises each on its own
        grouped = x.reshape(groups, self.group, c, *spatial).transpose(0, 1)
        grouped = grouped.reshape(self.group, groups * c, *spatial)
        running_mean = self.running_mean.repeat(groups)
        running_var = self.running_var.repeat(groups)
        out = F.batch_norm(
            grouped,
            running_mean,
            running_var,
            self.weight.repeat(groups),
            self.bias.repeat(groups),
            training=True,
            momentum=self.momentum,  # type: ignore[arg-type]  # set: group_batch_norms checks
            eps=self.eps,
        )
        with torch.no_grad():
            self.running_mean.copy_(running_mean.view(groups, c).mean(0))
            self.running_var.copy_(running_var.view(groups, c).mean(0))
            self.num_batches_tracked.add_(1)
        out = out.reshape(self.group, groups, c, *spatial).transpose(0, 1).reshape(x.shape)
        # back in the input's layout: the convolutions that follow keep channels_last
        channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
        return out.contiguous(memory_format=torch.channels_last) if channels_last else out


def group_batch_norms(model: nn.Module, group: int) -> nn.Module:
    """Replace every BatchNorm2d of ``model`` by a GroupedBatchNorm2d with the same parameters
    and statistics (the state dict keeps its keys: checkpoints load either way)."""
    for module in list(model.modules()):
        for name, child in module.named_children():
            if type(child) is nn.BatchNorm2d:
                if not child.affine or child.momentum is None or not child.track_running_stats:
                    raise ValueError(
                        f"{name}: only affine BN with a momentum and running statistics can be "
                        "grouped"
                    )
                grouped = GroupedBatchNorm2d(
                    child.num_features,
                    group,
                    eps=child.eps,
                    momentum=child.momentum,
                    affine=child.affine,
                    track_running_stats=child.track_running_stats,
                ).to(child.weight.device)
                grouped.load_state_dict(child.state_dict())
                setattr(module, name, grouped)
    return model
