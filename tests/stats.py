"""Statistical helpers: Monte Carlo standard errors for test tolerances."""

import numpy as np

# Tolerances are this many standard errors: a 5σ deviation has probability
# below 1e-6, and seeds are fixed, so the tests never flake yet do fail on a
# biased estimator (whose error does not shrink with M).
Z_SCORE = 5.0


def mean_and_se(fn, num_repeats=6):
  """Mean and standard error of `fn(seed)` over independent seeds."""
  values = np.stack([np.asarray(fn(seed), np.float64)
                     for seed in range(num_repeats)])
  return values.mean(0), values.std(0, ddof=1) / np.sqrt(num_repeats)


def assert_close_statistically(estimate, se, expected, expected_se=0.0,
                               floor=1e-6):
  """|estimate - expected| <= Z·(combined standard error), elementwise."""
  tol = Z_SCORE * np.sqrt(np.square(se) + np.square(expected_se)) + floor
  np.testing.assert_array_less(np.abs(np.asarray(estimate) - expected), tol)
