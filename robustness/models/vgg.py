"""VGG19 (with BatchNorm) in its CIFAR form: torchvision's conv stack, one linear classifier."""

from __future__ import annotations

from torch import nn
from torchvision.models.vgg import make_layers

from robustness.models.registry import register_model, scaled

VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


class CifarVGG(nn.Module):
    def __init__(self, cfg: list, num_classes: int, width: float) -> None:
        super().__init__()
        cfg = [c if c == "M" else scaled(c, width) for c in cfg]
        self.features = make_layers(cfg, batch_norm=True)
        self.classifier = nn.Linear(cfg[-2], num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


@register_model
def vgg19(num_classes: int = 10, width: float = 1.0) -> nn.Module:
    return CifarVGG(VGG19, num_classes, width)
