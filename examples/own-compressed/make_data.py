"""Writes data/data.npz in the suite's documented layout (here from scikit-learn's digits, upsampled to 32x32):
x_train, x_test uint8 N x 32 x 32 x 3 (or float32 N x 3 x 32 x 32 in [0, 1]); y_train, y_test class indices."""

from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def main() -> None:
    digits = load_digits()
    x = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8).repeat(1, 3, 1, 1).permute(0, 2, 3, 1).numpy()
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, train_size=600, test_size=300, stratify=y, random_state=0)
    out = Path(__file__).parent / "data"
    out.mkdir(exist_ok=True)
    np.savez_compressed(out / "data.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)


if __name__ == "__main__":
    main()
