"""Our release gate: every threshold of profile.toml on every pruned variant the profile builds."""


def test_pruned_model_meets_the_threshold(threshold, base_model, pruned_model, check_threshold):
    check_threshold(threshold, base_model, pruned_model)


def test_pruned_ir_is_smaller(ir_model, base_ir_model):  # profile ratios are all > 0 (no control arm)
    assert ir_model.info["bin_bytes"] < base_ir_model.info["bin_bytes"]
