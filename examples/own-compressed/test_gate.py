"""Our release gate: every threshold of profile.toml on every variant we ship."""


def test_variant_meets_the_threshold(threshold, base_model, variant, check_threshold):
    check_threshold(threshold, base_model, variant)
