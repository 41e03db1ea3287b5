# Copyright (c) mmhatnet contributors. All rights reserved.
"""Helpers for tests and benchmarks; not imported by the model."""
from .reference import (backbone_with_blocks, explicit_attention,
                        reference_attention, reference_backbone,
                        reference_block, reference_hmhsa, reference_mhsa)

__all__ = [
    'backbone_with_blocks', 'explicit_attention', 'reference_attention',
    'reference_backbone', 'reference_block', 'reference_hmhsa',
    'reference_mhsa'
]
