"""Errors the suite raises on purpose: each says what is wrong and how to fix it."""


class RobustnessError(Exception):
    """Base of the suite's own errors."""


class UsageError(RobustnessError):
    """Bad input from the user (profile, option, data folder, checkpoint): the CLI exits 2 on it."""


class CorruptArtifactError(RobustnessError):
    """An artifact on disk fails its checksums or manifest; the store moves it aside and rebuilds."""


class StoreError(RobustnessError):
    """The cache folder cannot be used (not writable, full, a file): nothing cached was changed."""


class SelfCheckError(RobustnessError):
    """An artifact fails an honest-evaluation check while it is built (an example outside its eps ball, an IR
    that kept channels its model pruned): the build fails and nothing is stored."""
