"""Model zoo: the paper's four architectures in their CIFAR forms, with a width multiplier.

A model's name is its factory's name (as in timm). Inputs are images in [0, 1]; normalisation is inside the model,
so eps is always in pixel space.
"""

from robustness.models import densenet, mobilenet, resnet, vgg  # noqa: F401  (registers the families)
from robustness.models.registry import (  # noqa: F401
    create_model,
    factory_fingerprint,
    import_factory,
    is_factory_path,
    list_models,
    register_model,
)

__all__ = ["create_model", "factory_fingerprint", "import_factory", "is_factory_path", "list_models",
           "register_model"]
