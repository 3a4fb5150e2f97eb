"""MobileNetV1 in its CIFAR form (Howard et al. 2017; torchvision has no V1): depthwise-separable blocks."""

from __future__ import annotations

from torch import nn

from robustness.models.registry import register_model, scaled

# (out_channels, stride) of each depthwise-separable block
MOBILENET_V1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
                (512, 1), (512, 1), (1024, 2), (1024, 1)]


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


class MobileNetV1(nn.Module):
    def __init__(self, num_classes: int, width: float) -> None:
        super().__init__()
        cin = scaled(32, width)
        layers = _conv_bn(3, cin, 3, 1)
        for cout, stride in MOBILENET_V1:
            cout = scaled(cout, width)
            layers += _conv_bn(cin, cin, 3, stride, groups=cin) + _conv_bn(cin, cout, 1, 1)
            cin = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


@register_model
def mobilenet_v1(num_classes: int = 10, width: float = 1.0) -> nn.Module:
    return MobileNetV1(num_classes, width)
