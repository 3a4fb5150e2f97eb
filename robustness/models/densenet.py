"""DenseNet121 in its CIFAR form: torchvision's DenseNet with a 3x3 stem and no max-pool."""

from __future__ import annotations

from torch import nn
from torchvision.models.densenet import DenseNet

from robustness.models.registry import register_model, scaled


@register_model
def densenet121(num_classes: int = 10, width: float = 1.0) -> nn.Module:
    growth = scaled(32, width)
    net = DenseNet(growth_rate=growth, block_config=(6, 12, 24, 16), num_init_features=2 * growth,
                   num_classes=num_classes)
    net.features.conv0 = nn.Conv2d(3, 2 * growth, 3, 1, 1, bias=False)
    net.features.pool0 = nn.Identity()
    return net
