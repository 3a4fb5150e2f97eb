"""The pytest plugin: options, session fixtures over the grid, and claim records.

Registered through the `pytest11` entry points, so `pip install` of this project gives any repository the
fixtures (`base_model`, `adversarial_set`, `pruned_model`, `ir_model`, ...) and the options
(`--robustness-profile`, ...).
"""
