# Copyright (c) mmhatnet contributors. All rights reserved.
"""Measuring models against the paper: parameters and FLOPs in the paper's
convention and with the attention products (:mod:`.complexity`), the
paper's Tables 1-4, every number we compare with (:mod:`.paper`), which of
our configs reproduces which row (:mod:`.zoo`), and the time and peak
memory of a model against its plain formulation and its peers
(:mod:`.benchmark`). Used by ``tools/analysis/`` and the tests; not imported
by ``import mmhatnet``."""
