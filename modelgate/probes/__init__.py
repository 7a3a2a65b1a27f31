"""Trigger probes (black box) and trigger inversion (white box): backdoors canaries cannot see.

A backdoored model is perfect on clean canaries; only inputs carrying the trigger go to the
attacker's class. `library` stamps candidate triggers, `measure` counts the canaries each one
attracts, `invert` searches a torch model for the smallest trigger per class, and `checks`
compares both with the blessed model's numbers stored in the baseline header. `run` ties them
together for the engine. Nothing here imports torch at module level except `invert`.
"""
