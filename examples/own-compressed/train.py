"""Trains the model the way a team would (its own loop) and writes model.pt, the checkpoint the profile names."""

from pathlib import Path

import numpy as np
import torch
from own_model import small_cnn
from torch import nn

HERE = Path(__file__).parent


def main(epochs: int = 20) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    with np.load(HERE / "data" / "data.npz") as f:
        x = torch.from_numpy(f["x_train"]).permute(0, 3, 1, 2).float() / 255
        y = torch.from_numpy(f["y_train"])
        x_te = torch.from_numpy(f["x_test"]).permute(0, 3, 1, 2).float() / 255
        y_te = torch.from_numpy(f["y_test"])
    model = small_cnn(10)
    opt = torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(y)).split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(x_te).argmax(1) == y_te).float().mean().item()
        print(f"epoch {epoch + 1}/{epochs}: test accuracy {acc:.3f}")
    torch.save(model.state_dict(), HERE / "model.pt")


if __name__ == "__main__":
    main()
