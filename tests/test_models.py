import pytest
import torch
import torchvision

from robustness.errors import UsageError
from robustness.models import create_model, list_models
from robustness.training import count_parameters

# Parameter counts of the standard CIFAR-10 variants (kuangliu/pytorch-cifar, the paper's usual reference).
STANDARD = {"resnet50": 23_520_842, "densenet121": 6_956_298, "vgg19": 20_040_522, "mobilenet_v1": 3_217_226}


def test_registry_is_sorted_and_complete():
    assert list_models() == sorted(STANDARD)


@pytest.mark.parametrize("name", sorted(STANDARD))
def test_width_one_is_the_standard_architecture(name):
    n = count_parameters(create_model(name, 10, 1.0))
    assert abs(n - STANDARD[name]) / STANDARD[name] < 0.001, n


def test_resnet50_equals_torchvision_with_a_cifar_stem():
    ref = torchvision.models.resnet50(num_classes=10)
    ref.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    assert count_parameters(create_model("resnet50", 10, 1.0)) == count_parameters(ref)


def test_vgg19_conv_stack_equals_torchvision():
    ours = create_model("vgg19", 10, 1.0).net.features
    assert count_parameters(ours) == count_parameters(torchvision.models.vgg19_bn().features)


@pytest.mark.parametrize("name", sorted(STANDARD))
def test_each_family_runs_forward_and_backward(name):
    torch.manual_seed(0)
    model = create_model(name, 100, 0.125)
    x = torch.rand(4, 3, 32, 32, requires_grad=True)
    out = model(x)
    assert out.shape == (4, 100)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in model.parameters())


def test_normalisation_is_inside_the_model():
    model = create_model("vgg19", 10, 0.125, mean=(0.1, 0.2, 0.3), std=(0.5, 0.5, 0.5))
    assert torch.allclose(model.mean.flatten(), torch.tensor([0.1, 0.2, 0.3]))
    assert "mean" in model.state_dict() and "std" in model.state_dict()


def test_width_scales_the_model_down():
    assert count_parameters(create_model("resnet50", 10, 0.25)) < count_parameters(create_model("resnet50")) / 10


def test_unknown_architecture_names_the_choices():
    with pytest.raises(UsageError, match="unknown architecture 'resnet18': choose from densenet121"):
        create_model("resnet18")


def test_profiles_know_the_zoo_without_importing_it():
    from robustness.profiles import ZOO

    assert ZOO == list_models()
