# Copyright (c) mmhatnet contributors. All rights reserved.
"""Measuring models against the paper: parameters and FLOPs in the paper's
convention and with the attention products (:mod:`.complexity`), and the
paper's Tables 1-4, every number we compare with (:mod:`.paper`). Used by
``tools/analysis/`` and the tests; not imported by ``import mmhatnet``."""
