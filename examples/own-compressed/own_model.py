"""A team's own model: a small CNN for 32x32 RGB images in [0, 1], normalisation inside (as the suite expects).
`widths` are the four convolutions' output channels: a structurally pruned variant is the same network, narrower."""

import torch
from torch import nn

WIDTHS = (16, 32, 32, 64)


def _block(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int = 10, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.3))
        self.register_buffer("std", torch.full((1, 3, 1, 1), 0.35))
        w1, w2, w3, w4 = widths
        self.features = nn.Sequential(*_block(3, w1, 1), *_block(w1, w2, 2), *_block(w2, w3, 1),
                                      *_block(w3, w4, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(w4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features((x - self.mean) / self.std))


def small_cnn(num_classes: int = 10, widths: list[int] | tuple[int, ...] = WIDTHS) -> nn.Module:
    """The factory the profile names: `own_model:small_cnn` (the base), with `widths` for the pruned variant."""
    return SmallCNN(num_classes, tuple(widths))
