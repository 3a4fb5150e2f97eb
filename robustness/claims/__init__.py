"""Claims: the paper's claims as a registry (one function per claim, registered with its metadata), the grid
cells each applies to, and the measurement behind a verdict.

A verdict is one of: `reproduced` (the 95% interval lies inside the bound), `not reproduced` (it lies wholly
outside: the data contradict the claim), `inconclusive` (it straddles the bound), `uninformative` (both models
compared sit at the floor or ceiling, at or below 2% or at or above 98%: such a cell says nothing about the
claim) and, in the report only, `error` (the cell crashed and wrote no record). A claim test fails on `not
reproduced`, through the claim's own assertion (ClaimNotReproduced), and where a recorded verdict changed or its
finding moved (robustness.expected); any other exception is a crash.

An effect attributed to pruning is decided against the control arm (the same fine-tuning steps without pruning):
every accuracy record keeps the paper's comparison (pruned minus base) and pruned minus control, and the verdict
is taken on the claim's `reference`.

Where things are: `registry` (the Claim record, cells and ids), `verdicts` (interval against bound, p_bound, the
record, the claim test's assertion), `stamps` (which run and code a record comes from), `context` (models and
per-image correctness a claim measures with), `paper` (the paper's accuracy, size and criteria claims), `pooled`
(the +-1 point claims as a mean over cells: the headline), `latency`, `transferability`, `questions` (its open
questions 1 and 3), `selfchecks` (checks of the evaluation itself), `compression` (the claims asked of the
other compression methods, each against its own reference).
"""

from robustness.claims import stamps
from robustness.claims.compression import (
    compressed_adv_within_1pp,
    compressed_adv_within_1pp_whitebox_base,
    compressed_clean_within_2pp,
    compressed_ir_size_cut_66,
    compressed_latency_gain_8pct,
    int8_ir_size_cut,
    int8_query_within_1pp,
    libraries_comparable,
    method_cells,
)
from robustness.claims.context import Context, Faced, _correct, _ratio_irs, _versus, _versus_method, set_index
from robustness.claims.latency import (
    CONTROL_LATENCY_TOLERANCE,
    LATENCY_PRECISION,
    LATENCY_THREADS,
    LATENCY_WINDOW,
    _architecture_latency,
    latency_gain_8_10pct,
    latency_gain_8pct,
)
from robustness.claims.paper import (
    GRID,
    PLUS_MINUS_1PP,
    _self_attacked,
    _transferred,
    _whitebox_on_itself,
    adv_within_1pp,
    adv_within_1pp_over_eps,
    adv_within_1pp_whitebox_base,
    adv_within_1pp_whitebox_pruned,
    clean_within_2pp,
    criteria_comparable,
    ir_size_cut_66,
)
from robustness.claims.pooled import (
    adv_within_1pp_over_eps_pooled,
    adv_within_1pp_pooled,
    adv_within_1pp_whitebox_base_pooled,
    adv_within_1pp_whitebox_pruned_pooled,
)
from robustness.claims.questions import (
    ADV_TRAINING_MARGIN,
    Q1,
    Q3,
    _adversarial_arm_checked,
    _training_gain,
    adv_trained_within_1pp,
    adv_trained_within_1pp_whitebox,
    adv_training_helps,
    criteria_transfer_agree,
    retained_robustness_std_vs_adv,
)
from robustness.claims.registry import (
    _REGISTRY,
    ALL_ARCHS,
    CEILING,
    FLOOR,
    PAPER,
    VERDICTS,
    Claim,
    ClaimNotReproduced,
    _id_part,
    cell_id,
    cells,
    claim_ratios,
    claim_table,
    get_claim,
    pooled_members,
    register,
)
from robustness.claims.selfchecks import HONEST_LARGE_EPS_ACCURACY, robust_accuracy_honest
from robustness.claims.transferability import TRANSFER_BOUND, transfer, transfer_consistent
from robustness.claims.verdicts import (
    _decided,
    _informative,
    allowed,
    bound_text,
    check,
    fmt,
    fmt_value,
    measure,
    message,
    narrowest_half_width,
    p_bound,
    same_finding,
    side,
    verdict,
)

CLAIMS: list[Claim] = sorted(_REGISTRY.values(), key=lambda c: c.id)

__all__ = [
    "ADV_TRAINING_MARGIN", "ALL_ARCHS", "CEILING", "CLAIMS", "CONTROL_LATENCY_TOLERANCE", "FLOOR", "GRID",
    "HONEST_LARGE_EPS_ACCURACY", "LATENCY_PRECISION", "LATENCY_THREADS", "LATENCY_WINDOW", "PAPER", "PLUS_MINUS_1PP",
    "Q1", "Q3", "TRANSFER_BOUND", "VERDICTS", "Claim", "ClaimNotReproduced", "Context", "Faced",
    "adv_trained_within_1pp", "adv_trained_within_1pp_whitebox", "adv_training_helps", "adv_within_1pp",
    "adv_within_1pp_over_eps", "adv_within_1pp_over_eps_pooled", "adv_within_1pp_pooled",
    "adv_within_1pp_whitebox_base", "adv_within_1pp_whitebox_base_pooled", "adv_within_1pp_whitebox_pruned",
    "adv_within_1pp_whitebox_pruned_pooled", "allowed", "bound_text", "cell_id", "cells", "check", "claim_ratios",
    "claim_table", "clean_within_2pp", "criteria_comparable", "criteria_transfer_agree", "fmt", "fmt_value",
    "get_claim", "ir_size_cut_66", "latency_gain_8_10pct", "latency_gain_8pct", "measure", "message",
    "narrowest_half_width", "p_bound", "pooled_members", "register", "retained_robustness_std_vs_adv",
    "robust_accuracy_honest", "same_finding", "set_index", "side", "stamps", "transfer", "transfer_consistent",
    "verdict",
    # private helpers, importable as before (tests and the latency bench use some)
    "_REGISTRY", "_adversarial_arm_checked", "_architecture_latency", "_correct", "_decided", "_id_part",
    "_informative", "_ratio_irs", "_self_attacked", "_training_gain", "_transferred", "_versus", "_versus_method",
    "_whitebox_on_itself",
]
__all__ += [  # the claims asked of the other compression methods
    "compressed_adv_within_1pp", "compressed_adv_within_1pp_whitebox_base", "compressed_clean_within_2pp",
    "compressed_ir_size_cut_66", "compressed_latency_gain_8pct", "int8_ir_size_cut", "int8_query_within_1pp",
    "libraries_comparable", "method_cells",
]
