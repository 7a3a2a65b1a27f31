"""The engine: one pipeline for `check`, `bless` and `calibrate`, shared by every front end.

Front ends (cli, action, pytest plugin, the public `modelgate.api`) call into this package and
only translate arguments and render; this package calls the layers below it (analysis, probes,
history, models, report, suite) and they never call back.
"""
