"""Statistical helpers: Monte Carlo standard errors for test tolerances."""

import numpy as np
from scipy import stats

# Tolerances are this many standard errors: a 5σ deviation has probability
# below 1e-6, and seeds are fixed, so the tests never flake yet do fail on a
# biased estimator (whose error does not shrink with M).
Z_SCORE = 5.0
NUM_REPEATS = 16


def t_factor(num_repeats: int = NUM_REPEATS) -> float:
  """How much wider Student's t bound with `num_repeats − 1` degrees of
  freedom is than the normal one, at the tail probability of `Z_SCORE`."""
  return stats.t.ppf(stats.norm.cdf(Z_SCORE), num_repeats - 1) / Z_SCORE


def mean_and_se(fn, num_repeats=NUM_REPEATS):
  """Mean and standard error of `fn(seed)` over independent seeds.

  The standard error is estimated from the repeats themselves, so a bound
  of `Z_SCORE` of them must use Student's t with `num_repeats − 1` degrees
  of freedom, not the normal law: the returned error is widened by the
  ratio of the two quantiles at the tail probability of `Z_SCORE`
  (16 repeats: 1.65×; 6 repeats would need 6.4×), so that `Z_SCORE` of
  them is a valid bound.
  """
  values = np.stack(
    [np.asarray(fn(seed), np.float64) for seed in range(num_repeats)]
  )
  se = values.std(0, ddof=1) / np.sqrt(num_repeats)
  return values.mean(0), se * t_factor(num_repeats)


def assert_close_statistically(
  estimate, se, expected, expected_se=0.0, floor=1e-6
):
  """|estimate - expected| <= Z·(combined standard error), elementwise."""
  tol = Z_SCORE * np.sqrt(np.square(se) + np.square(expected_se)) + floor
  np.testing.assert_array_less(np.abs(np.asarray(estimate) - expected), tol)
