"""The team's own compression, as it would run it before a release (not part of the suite):
- variants/int8/: the base model in OpenVINO, quantized to INT8 by NNCF's post-training quantization;
- variants/pruned/model.pt: the base pruned structurally by Torch-Pruning (L1 magnitude, half the channels of every
  convolution), fine-tuned, saved as a plain state dict of the narrower network;
- variants/pruned.onnx: that pruned network exported to ONNX, as it would be deployed.

Needs `pip install torch-pruning onnx` besides the suite. Prints the widths the profile's factory_kwargs names."""

from pathlib import Path

import nncf
import numpy as np
import openvino as ov
import torch
import torch_pruning as tp
from own_model import small_cnn
from torch import nn

HERE = Path(__file__).parent
OUT = HERE / "variants"


def load_data():
    with np.load(HERE / "data" / "data.npz") as f:
        x = torch.from_numpy(f["x_train"]).permute(0, 3, 1, 2).float() / 255
        x_te = torch.from_numpy(f["x_test"]).permute(0, 3, 1, 2).float() / 255
        return x, torch.from_numpy(f["y_train"]), x_te, torch.from_numpy(f["y_test"])


def base_model() -> nn.Module:
    model = small_cnn(10)
    model.load_state_dict(torch.load(HERE / "model.pt", weights_only=True))
    return model.eval()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model.eval()(x).argmax(1) == y).float().mean().item()


def int8(x_train: torch.Tensor) -> None:
    """NNCF's post-training quantization of the OpenVINO model, calibrated on 300 training images."""
    ov_model = ov.convert_model(base_model(), example_input=torch.rand(1, 3, 32, 32), input=[1, 3, 32, 32])
    calibration = nncf.Dataset([x_train[i:i + 1].numpy() for i in range(300)])
    quantized = nncf.quantize(ov_model, calibration, subset_size=300)
    (OUT / "int8").mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(OUT / "int8" / "model.xml"), compress_to_fp16=False)


def pruned(x, y, x_te, y_te, epochs: int = 10) -> list[int]:
    """Torch-Pruning: half the channels of every convolution by L1 magnitude, the classifier's outputs kept, then
    fine-tuned with the team's own loop."""
    torch.manual_seed(0)
    model = base_model()
    pruner = tp.pruner.MagnitudePruner(model, torch.rand(1, 3, 32, 32),
                                       importance=tp.importance.MagnitudeImportance(p=1), pruning_ratio=0.5,
                                       ignored_layers=[model.classifier])
    pruner.step()
    print(f"pruned: test accuracy before fine-tuning {accuracy(model, x_te, y_te):.3f}")
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(y)).split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    print(f"pruned: test accuracy after fine-tuning {accuracy(model, x_te, y_te):.3f}")
    widths = [m.out_channels for m in model.features if isinstance(m, nn.Conv2d)]
    (OUT / "pruned").mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), OUT / "pruned" / "model.pt")
    torch.onnx.export(model.eval(), (torch.rand(1, 3, 32, 32),), OUT / "pruned.onnx", dynamo=False,
                      input_names=["images"], output_names=["logits"], dynamic_axes={"images": {0: "n"}})
    return widths


def main() -> None:
    torch.set_num_threads(1)
    x, y, x_te, y_te = load_data()
    print(f"base: test accuracy {accuracy(base_model(), x_te, y_te):.3f}")
    int8(x)
    print(f"pruned widths (the profile's factory_kwargs): {pruned(x, y, x_te, y_te)}")


if __name__ == "__main__":
    main()
