"""Attacks: adversarial test sets crafted with the Adversarial Robustness Toolbox (ART) on a source model.

A thin wrapper: one ART class per user-facing name, settings from the profile, images in [0, 1] and eps in that
pixel space (normalisation is inside the model). Nothing here projects or clips beyond what ART does itself, so
the self-checks see ART's own output.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from robustness.errors import UsageError
from robustness.profiles import ATTACKS, LINF_ATTACKS, QUERY_ATTACKS, Profile
from robustness.progress import eta

if TYPE_CHECKING:  # torch where an attack runs: keys ask for an attack's spec, and keys need no torch
    import torch
    from torch import nn

log = logging.getLogger("robustness.attacks")
logging.getLogger("art").setLevel(logging.WARNING)  # ART logs every inner FGSM step of a universal perturbation
EPS_BOUNDED = LINF_ATTACKS  # deepfool and cw are minimum-norm attacks: no eps budget, norms are stored instead


@dataclass(frozen=True)
class AttackSpec:
    """Every setting that changes an adversarial set; it is part of the set's key."""

    name: str
    eps: float | None
    params: dict[str, Any]
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {"attack": self.name, "eps": self.eps, "params": self.params, "seed": self.seed}


def attack_spec(profile: Profile, name: str, eps: float | None = None) -> AttackSpec:
    if name not in ATTACKS:
        raise UsageError(f"unknown attack {name!r}: choose from {', '.join(ATTACKS)}")
    eps = profile.eps if eps is None else eps
    if eps < 0 or eps > 1:
        raise UsageError(f"eps {eps} is outside [0, 1]: eps is Linf in [0,1] pixel space, e.g. 8/255")
    params: dict[str, Any] = {"batch_size": profile.attack_batch_size}
    if name in ("pgd", "bim"):
        # the step scales with eps (Madry et al.): a fixed small step could not reach a large eps's boundary
        step = profile.attack_step_size * eps / profile.eps if profile.eps > 0 else profile.attack_step_size
        params.update(eps_step=step, max_iter=profile.attack_steps)
        if name == "pgd":
            params["num_random_init"] = profile.attack_restarts
    elif name == "apgd":  # APGD adapts its step; it starts at 2 eps as in Croce & Hein (2020)
        params.update(max_iter=2 * profile.attack_steps, nb_random_init=profile.attack_restarts,
                      loss_type="cross_entropy")
    elif name == "deepfool":
        # "standing": ART's algorithm stepping only the images not yet fooled (_deepfool_standing_class)
        params.update(max_iter=profile.deepfool_max_iter, epsilon=0.02, nb_grads=10, steps="standing")
    elif name == "cw":
        params.update(max_iter=profile.cw_max_iter, binary_search_steps=profile.cw_binary_search_steps,
                      confidence=0.0, learning_rate=0.01, initial_const=profile.cw_initial_const)
    elif name == "uap":  # FGSM steps inside the universal loop: fast, and Linf-bounded like the others
        params.update(attacker="fgsm", max_iter=profile.uap_max_iter, delta=0.2)
    return AttackSpec(name, eps if name in EPS_BOUNDED else None, params, profile.seed)


def classifier(model: nn.Module, num_classes: int, device: str = "cpu"):
    """ART's view of a torch model that takes [0, 1] images and returns logits, on the profile's device."""
    from torch import nn

    from robustness.training import resolve_device

    model.eval()
    device_type = "gpu" if resolve_device(device).type == "cuda" else "cpu"
    return _one_backward_class()(model=model, loss=nn.CrossEntropyLoss(), input_shape=(3, 32, 32),
                                 nb_classes=num_classes, clip_values=(0.0, 1.0), device_type=device_type)


@functools.lru_cache(maxsize=None)
def _one_backward_class() -> type:
    """ART's PyTorchClassifier whose class_gradient for one label per image takes one backward pass instead of
    one per distinct label (Carlini-Wagner asks twice per iteration: 10x the work on 10 classes, 100x on 100).

    In eval mode images do not interact, so the gradient of the sum of each image's own logit is, image by
    image, the gradient ART computes; every other case (all classes, one int, training mode, RNNs, layer
    gradients, non-torch preprocessing) goes to ART's own method. ART's attacks run unchanged."""
    import torch
    from art.estimators.classification import PyTorchClassifier

    class OneBackwardClassifier(PyTorchClassifier):
        _graph: tuple | None = None  # the last label-array call's images, weight versions and forward pass

        def class_gradient(self, x, label=None, training_mode=False, **kwargs):
            if isinstance(label, list):
                label = np.array(label)
            own_path = (not isinstance(label, np.ndarray) or training_mode or self.is_rnn
                        or self._layer_idx_gradients >= 0 or not self.all_framework_preprocessing
                        or label.shape != (x.shape[0],) or not (label < self.nb_classes).all())
            if own_path:
                self._graph = None
                return super().class_gradient(x, label=label, training_mode=training_mode, **kwargs)
            x_grad, preds, again = self._forward(x)
            index = torch.from_numpy(label.astype(np.int64)).to(self._device).view(-1, 1)
            # the graph is kept for one more call on the same images: the second of Carlini-Wagner's pair
            (grads,) = torch.autograd.grad(preds.gather(1, index).sum(), x_grad, retain_graph=not again)
            return grads.cpu().numpy()[:, None]

        def _forward(self, x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, bool]:
            """The forward pass of the previous call if it saw the same images and weights (Carlini-Wagner asks
            for the gradients of two labels of the same images in a row), else a new one; said which."""
            versions = tuple(p._version for p in self._model.parameters())
            kept, self._graph = self._graph, None
            if kept is not None and kept[1] == versions and np.array_equal(kept[0], x):
                return kept[2], kept[3], True
            self._model.train(mode=False)
            x_grad = torch.from_numpy(x).to(self._device).requires_grad_(True)
            x_input, _ = self._apply_preprocessing(x_grad, y=None, fit=False, no_grad=False)
            preds = self._model(x_input)[-1]
            self._graph = (x.copy(), versions, x_grad, preds)
            return x_grad, preds, False

    return OneBackwardClassifier


@contextlib.contextmanager
def input_gradients_only(model: nn.Module) -> Iterator[nn.Module]:
    """Weights frozen while an attack runs. ART's gradient calls run `backward()`, which also computes every
    weight's gradient (about as much work again as the input's) that no attack uses; frozen, the backward pass
    computes the input's alone, with the same kernels and so the same bits (tests/test_attacks.py)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _build(spec: AttackSpec, clf):
    from art.attacks.evasion import (
        AutoProjectedGradientDescent,
        BasicIterativeMethod,
        CarliniL2Method,
        DeepFool,
        FastGradientMethod,
        ProjectedGradientDescent,
        UniversalPerturbation,
    )

    p, eps = dict(spec.params), spec.eps
    bs = p.pop("batch_size")
    if spec.name == "fgsm":
        return FastGradientMethod(clf, norm=np.inf, eps=eps, eps_step=eps, batch_size=bs)
    if spec.name == "pgd":
        return ProjectedGradientDescent(clf, norm=np.inf, eps=eps, batch_size=bs, verbose=False, **p)
    if spec.name == "bim":
        return BasicIterativeMethod(clf, eps=eps, batch_size=bs, verbose=False, **p)
    if spec.name == "apgd":
        return AutoProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=2 * eps, batch_size=bs,
                                            verbose=False, **p)
    if spec.name == "deepfool":
        kind = _deepfool_standing_class() if p.pop("steps", "all") == "standing" else DeepFool
        return kind(clf, batch_size=bs, verbose=False, **p)
    if spec.name == "cw":
        return CarliniL2Method(clf, batch_size=bs, verbose=False, **p)
    if spec.name == "uap":
        inner = {"eps": eps, "eps_step": eps, "norm": np.inf}
        return UniversalPerturbation(clf, attacker=p["attacker"], attacker_params=inner, delta=p["delta"],
                                     max_iter=p["max_iter"], eps=eps, norm=np.inf, batch_size=bs, verbose=False)
    raise UsageError(f"unknown attack {spec.name!r}: choose from {', '.join(ATTACKS)}")


@functools.lru_cache(maxsize=None)
def _deepfool_standing_class() -> type:
    """ART's DeepFool, the same algorithm and arithmetic, stepping only the images still standing: ART predicts and
    takes every class gradient of the whole batch at every step, the fooled images included, whose rows it then
    leaves unused. Here the rows of the images still standing are recomputed and the others kept, so a step costs
    what the images left need. Rows computed in a smaller batch can differ in the last float bits (about 1e-7);
    tests/test_attacks.py checks the sets against ART's within 1e-6 and their predictions for equality."""
    from art.attacks.evasion import DeepFool
    from art.config import ART_NUMPY_DTYPE

    class StandingDeepFool(DeepFool):
        def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs) -> np.ndarray:
            x_adv = x.astype(ART_NUMPY_DTYPE)
            preds = self.estimator.predict(x, batch_size=self.batch_size)
            subset = self.nb_grads < self.estimator.nb_classes
            labels_set = np.unique(np.argsort(-preds, axis=1)[:, : self.nb_grads]) if subset \
                else np.arange(self.estimator.nb_classes)
            sorter = np.arange(len(labels_set))
            tol = 10e-8
            lo_clip, hi_clip = self.estimator.clip_values if self.estimator.clip_values is not None else (None, None)

            def gradients(images: np.ndarray) -> np.ndarray:
                if subset:
                    grd = np.array([self.estimator.class_gradient(images, label=int(k)) for k in labels_set])
                    return np.squeeze(np.swapaxes(grd, 0, 2), axis=0)
                return self.estimator.class_gradient(images)

            for start in range(0, x_adv.shape[0], self.batch_size):
                batch = x_adv[start:start + self.batch_size].copy()
                f_batch = preds[start:start + self.batch_size].copy()
                fk_hat = np.argmax(f_batch, axis=1)
                grd = gradients(batch)
                active = np.arange(len(batch))
                step = 0
                while active.size > 0 and step < self.max_iter:
                    labels_indices = sorter[np.searchsorted(labels_set, fk_hat, sorter=sorter)]
                    grad_diff = grd - grd[np.arange(len(grd)), labels_indices][:, None]
                    f_diff = f_batch[:, labels_set] - f_batch[np.arange(len(f_batch)), labels_indices][:, None]
                    norm = np.linalg.norm(grad_diff.reshape(len(grad_diff), len(labels_set), -1), axis=2) + tol
                    value = np.abs(f_diff) / norm
                    value[np.arange(len(value)), labels_indices] = np.inf
                    l_var = np.argmin(value, axis=1)
                    absolute1 = abs(f_diff[np.arange(len(f_diff)), l_var])
                    draddiff = grad_diff[np.arange(len(grad_diff)), l_var].reshape(len(grad_diff), -1)
                    pow1 = pow(np.linalg.norm(draddiff, axis=1), 2) + tol
                    r_var = (absolute1 / pow1).reshape((-1,) + (1,) * (len(x.shape) - 1))
                    r_var = r_var * grad_diff[np.arange(len(grad_diff)), l_var]
                    if lo_clip is not None:
                        batch[active] = np.clip(batch[active] + r_var[active] * (hi_clip - lo_clip), lo_clip, hi_clip)
                    else:
                        batch[active] += r_var[active]
                    # only the images still standing are predicted and differentiated again (ART: the whole batch)
                    f_batch[active] = self.estimator.predict(batch[active])
                    grd[active] = gradients(batch[active])
                    active = active[np.argmax(f_batch[active], axis=1) == fk_hat[active]]
                    step += 1
                x_adv[start:start + self.batch_size] = x_adv[start:start + self.batch_size] + (1 + self.epsilon) * (
                    batch - x_adv[start:start + self.batch_size])
                if lo_clip is not None:
                    np.clip(x_adv[start:start + self.batch_size], lo_clip, hi_clip,
                            out=x_adv[start:start + self.batch_size])
            return x_adv

    return StandingDeepFool


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)  # UniversalPerturbation orders images with python's random
    np.random.seed(seed)  # random starts of PGD and APGD use numpy's global generator
    torch.manual_seed(seed)


def craft(spec: AttackSpec, model: nn.Module, x: np.ndarray, y: np.ndarray, num_classes: int,
          progress: Callable[[str], None] | None = None, layout: str = "contiguous",
          device: str = "cpu") -> np.ndarray:
    """Adversarial versions of x against `model` (white-box on it), deterministic for a given spec and layout."""
    if spec.eps == 0:
        return x.copy()
    from robustness.training import memory_format

    with memory_format(model, layout), input_gradients_only(model):
        return _craft(spec, model, x, y, num_classes, progress, device)


def _craft(spec: AttackSpec, model: nn.Module, x: np.ndarray, y: np.ndarray, num_classes: int,
           progress: Callable[[str], None] | None, device: str) -> np.ndarray:
    clf = classifier(model, num_classes, device)
    seed_everything(spec.seed)
    attack = _build(spec, clf)
    out = []
    # a universal perturbation is one for the whole set; the others go in chunks so progress can be shown
    chunk = len(x) if spec.name == "uap" else max(spec.params["batch_size"], 1)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for start in range(0, len(x), chunk):
            xb, yb = x[start:start + chunk], y[start:start + chunk]
            out.append(attack.generate(x=np.ascontiguousarray(xb, dtype=np.float32), y=yb.astype(np.int64)))
            if progress is not None and len(x) > chunk:
                progress(f"  {spec.name}: images {eta(min(start + chunk, len(x)), len(x), started)}")
    x_adv = np.concatenate(out).astype(np.float32)
    check_perturbation(spec, x, x_adv)
    return x_adv


def query_spec(profile: Profile, eps: float | None = None) -> AttackSpec:
    """The query-based attack on a deployed model: its budget (iterations) and settings are in every key."""
    eps = profile.eps if eps is None else eps
    if not 0 <= eps <= 1:
        raise UsageError(f"eps {eps} is outside [0, 1]: eps is Linf in [0,1] pixel space, e.g. 8/255")
    params = {"batch_size": profile.attack_batch_size, "max_iter": profile.query_max_iter,
              "p_init": profile.query_p_init, "nb_restarts": 1, "norm": "inf"}
    return AttackSpec(profile.query_attack, eps, params, profile.seed)


def craft_query(spec: AttackSpec, predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray,
                num_classes: int, progress: Callable[[str], None] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Adversarial versions of x against a model seen only through `predict` (images -> class scores): ART's
    SquareAttack (Andriushchenko et al. 2020) through ART's BlackBoxClassifierNeuralNetwork, so an IR without
    gradients (an INT8 model, a team's export) faces an attacker who sees only its outputs. Returns the examples
    and the queries spent (images sent to `predict`)."""
    from art.attacks.evasion import SquareAttack
    from art.estimators.classification import BlackBoxClassifierNeuralNetwork

    if spec.name not in QUERY_ATTACKS:
        raise UsageError(f"unknown query attack {spec.name!r}: choose from {', '.join(QUERY_ATTACKS)}")
    if spec.eps == 0 or not len(x):
        return x.copy(), {"queries": 0, "queries_per_image": 0.0}
    queried = [0]

    def counted(batch: np.ndarray) -> np.ndarray:
        queried[0] += len(batch)
        return predict(np.ascontiguousarray(batch, dtype=np.float32))

    p = spec.params
    clf = BlackBoxClassifierNeuralNetwork(counted, input_shape=tuple(x.shape[1:]), nb_classes=num_classes,
                                          clip_values=(0.0, 1.0))
    seed_everything(spec.seed)
    attack = SquareAttack(clf, norm=np.inf, eps=spec.eps, max_iter=p["max_iter"], p_init=p["p_init"],
                          nb_restarts=p["nb_restarts"], batch_size=p["batch_size"], verbose=False)
    out, chunk, started = [], max(p["batch_size"], 1), time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for start in range(0, len(x), chunk):
            xb, yb = x[start:start + chunk], y[start:start + chunk]
            out.append(attack.generate(x=np.ascontiguousarray(xb, dtype=np.float32), y=yb.astype(np.int64)))
            if progress is not None and len(x) > chunk:
                progress(f"  {spec.name}: images {eta(min(start + chunk, len(x)), len(x), started)}")
    x_adv = np.concatenate(out).astype(np.float32)
    check_perturbation(spec, x, x_adv)
    return x_adv, {"queries": int(queried[0]), "queries_per_image": queried[0] / len(x)}


def check_perturbation(spec: AttackSpec, x: np.ndarray, x_adv: np.ndarray, slack: float = 1e-6) -> None:
    """Every crafted set, of every source and eps, stays in [0, 1] and (eps-bounded attacks) in its Linf ball;
    a violation fails the build instead of storing examples that a larger budget made."""
    from robustness.errors import SelfCheckError

    if x_adv.shape != x.shape or not np.isfinite(x_adv).all():
        raise SelfCheckError(f"{spec.name} returned {x_adv.shape} with non-finite values or another shape than "
                             f"{x.shape}")
    if x_adv.min(initial=0) < 0 or x_adv.max(initial=0) > 1:
        raise SelfCheckError(f"{spec.name} left [0, 1]: values from {x_adv.min():.4f} to {x_adv.max():.4f}")
    if spec.eps is not None:
        linf = float(norms(x, x_adv)["linf"].max(initial=0))
        if linf > spec.eps + slack:
            raise SelfCheckError(f"{spec.name} left its eps ball: Linf {linf:.6f} > eps {spec.eps:.6f}")


def zero_gradient_fraction(model: nn.Module, x: np.ndarray, y: np.ndarray, num_classes: int) -> float:
    """Fraction of images whose cross-entropy input gradient is exactly zero: gradient masking shows here
    (saturated softmax, non-differentiable layers) before it shows as an attack that fails. `y` one-hot: ART's
    loss_gradient reduces labels along axis 1."""
    with input_gradients_only(model):
        grads = classifier(model, num_classes).loss_gradient(np.ascontiguousarray(x, dtype=np.float32),
                                                             y.astype(np.int64))
    return float((np.abs(grads.reshape(len(x), -1)).max(axis=1) == 0).mean())


def with_loss(spec: AttackSpec, loss_type: str) -> AttackSpec:
    """APGD with another loss (`difference_logits_ratio`, Croce & Hein's DLR): if it beats cross-entropy by far,
    cross-entropy gradients are masked."""
    if spec.name != "apgd":
        raise UsageError(f"only apgd takes a loss type, not {spec.name}")
    return AttackSpec(spec.name, spec.eps, {**spec.params, "loss_type": loss_type}, spec.seed)


def norms(x: np.ndarray, x_adv: np.ndarray) -> dict[str, np.ndarray]:
    delta = (x_adv - x).reshape(len(x), -1).astype(np.float64)
    return {"linf": np.abs(delta).max(axis=1).astype(np.float32),
            "l2": np.sqrt((delta**2).sum(axis=1)).astype(np.float32)}
