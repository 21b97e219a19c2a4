"""Keras metrics for structured outputs and for decisions: exact match,
Hamming, projection, Spearman, and the regret of predict-then-optimize."""

from perturbations_tf._src.metrics import ConvergedFraction
from perturbations_tf._src.metrics import ExactMatchAccuracy
from perturbations_tf._src.metrics import HammingAccuracy
from perturbations_tf._src.metrics import NormalizedRegret
from perturbations_tf._src.metrics import ProjectionAccuracy
from perturbations_tf._src.metrics import Regret
from perturbations_tf._src.metrics import SpearmanCorrelation
from perturbations_tf._src.metrics import UnambiguousRegret

__all__ = [
  "ConvergedFraction",
  "ExactMatchAccuracy",
  "HammingAccuracy",
  "NormalizedRegret",
  "ProjectionAccuracy",
  "Regret",
  "SpearmanCorrelation",
  "UnambiguousRegret",
]
