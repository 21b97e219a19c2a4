"""The worked examples learn through real solver libraries (scipy)."""

import pytest

from examples import assignment
from examples import knapsack
from examples import production_planning

# The repository's binaries, benchmarks or documentation, beside the library.
pytestmark = pytest.mark.integration


def test_assignment_learns_to_match():
  results = assignment.main(
    num_train=160, num_test=100, size=5, epochs=6, num_samples=10
  )
  assert results["loss"][-1] < 0.5 * results["loss"][0]
  # Random matchings get 1/5 of the workers right; the model most of them.
  assert results["test_matched_fraction"] > 0.6
  assert results["random_matching_fraction"] == 0.2


def test_knapsack_learns_item_values():
  results = knapsack.main(num_train=120, num_test=60, epochs=5, num_samples=5)
  assert results["loss"][-1] < 0.5 * results["loss"][0]
  assert results["test_relative_value"] > results["trivial_relative_value"]
  assert results["test_relative_value"] > 0.9


def test_production_planning_spo_plus_beats_two_stage():
  results = production_planning.main(num_train=200, num_test=100, epochs=8)
  assert results["spo_plus_loss"][-1] < 0.5 * results["spo_plus_loss"][0]
  assert (
    results["spo_plus_test_normalized_regret"]
    < 0.7 * results["two_stage_test_normalized_regret"]
  )
