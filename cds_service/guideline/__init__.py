"""Osteopenia guideline rules R1–R9 (clinical-spec §2) as pure functions of patient facts.

``assessment`` derives what every rule needs once (eligibility, R1 classification, current
therapy, recent FRAX, last DXA, latest vitamin D); each rule family has its own module and
returns a ``Recommendation`` or None; ``rules.evaluate_rules`` runs them in order. Every
configurable number lives in ``thresholds.json``; citations in ``references.json``.
"""
