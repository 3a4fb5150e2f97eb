"""Adversarial training: the batches a model of the adversarial arm learns from (the paper's open question 1).

A training step replaces its batch by ART's projected gradient descent on the model being trained, in eval mode
as ART's own adversarial trainers craft it, then trains on that batch. FGSM with a random start is PGD with one
step of 1.25 eps from a uniform point of the eps ball (Wong, Rice and Kolter, "Fast is better than free", 2020);
Madry et al.'s PGD takes several smaller steps. ART's training loops are not used: fine-tuning under NNCF must
re-apply its masks after every step, which only our loop does.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from robustness.profiles import Profile

if TYPE_CHECKING:  # torch where a batch is perturbed: every key asks for a recipe, and keys need no torch
    import torch
    from torch import nn

Perturb = Callable[["nn.Module", "torch.Tensor", "torch.Tensor"], "torch.Tensor"]
UNITS = ("robustness.adversarial_training", "robustness.attacks")  # the code in an adversarial recipe's key


def recipe(profile: Profile, training: str) -> dict[str, Any]:
    """What an adversarially trained artifact adds to its key; nothing for standard training, so the standard
    arm's keys are those of a profile without adversarial training."""
    if training == "standard":
        return {}
    from robustness import stages

    return {"training": {"method": profile.adv_train_method, "eps": profile.adv_train_eps,
                         "step_size": profile.adv_train_step_size, "steps": profile.adv_train_steps,
                         "random_start": True, "attack_mode": "eval", "code": stages.unit_versions(UNITS)}}


def perturber(spec: dict[str, Any], num_classes: int, device: str = "cpu") -> Perturb | None:
    """The function a training loop passes each batch through; None for standard training."""
    if not spec:
        return None
    t = spec["training"]
    attacks_by_model: dict[int, Any] = {}

    def perturb(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        import torch
        from art.attacks.evasion import ProjectedGradientDescent

        from robustness import attacks

        attack = attacks_by_model.get(id(model))
        if attack is None:  # one per model: ART's estimator wraps the module, whose weights train on
            clf = attacks.classifier(model, num_classes, device)
            attack = ProjectedGradientDescent(clf, norm=np.inf, eps=t["eps"], eps_step=t["step_size"],
                                              max_iter=t["steps"], num_random_init=1, batch_size=len(xb),
                                              verbose=False)
            attacks_by_model[id(model)] = attack
        with warnings.catch_warnings(), attacks.input_gradients_only(model):
            warnings.simplefilter("ignore")
            x_adv = attack.generate(x=np.ascontiguousarray(xb.cpu().numpy(), dtype=np.float32),
                                    y=yb.cpu().numpy().astype(np.int64))
        model.train()  # ART leaves the model in eval mode
        return torch.from_numpy(x_adv).to(xb.device)

    return perturb
