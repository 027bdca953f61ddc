"""Advice that more than one rule gives, written once.

A response shows each line once (``rules.shape_response``): the first card that carries it
keeps it, later cards leave it out. Writing the shared lines here keeps them identical.
"""

from __future__ import annotations

FALLS = (
    "**Falls**: assess falls risk; offer exercise with balance and strength training "
    "{{USPSTF2024_FALLS}}."
)
