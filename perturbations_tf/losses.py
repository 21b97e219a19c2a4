"""Losses over solvers: Keras classes and their functional forms.

| loss | natural `y_true` | paper |
|---|---|---|
| `LeastSquaresLoss`, `least_squares_loss` (two-stage) | costs `c` | — |
| `FenchelYoungLoss`, `fenchel_young_loss` | `w*` | Berthet et al. (2020) |
| `SPOPlusLoss`, `spo_plus_loss` | costs `c` | Elmachtoub & Grigas (2022) |
| `NCELoss`, `nce_loss` | `w*` | Mulamba et al. (2021) |
| `CMAPLoss`, `cmap_loss` | `w*` | Mulamba et al. (2021) |
| `PointwiseLTRLoss`, `pointwise_ltr_loss` | costs `c` | Mandi et al. (2022) |
| `PairwiseLTRLoss`, `pairwise_ltr_loss` | costs `c` | Mandi et al. (2022) |
| `ListwiseLTRLoss`, `listwise_ltr_loss` | costs `c` | Mandi et al. (2022) |
| `PGLoss`, `pg_loss` | costs `c` | Huang & Gupta (2024) |
| `RegularizedFenchelYoungLoss`, its function | `w*` | Dalle et al. (2022) |
| `CaVELoss`, `cave_loss` | `w*` | Tang & Khalil (2024) |
| `ClosedFormFenchelYoungLoss(layer)` | classes, ranks | Blondel et al. (2020) |
| `StructuredSVMLoss`, `structured_svm_loss` | `w*`, 0/1 | Dalle et al. (2022) |
| `ImitationLoss`, `imitation_loss` | `w*`, 0/1 | Dalle et al. (2022) |
| `DecisionLoss(layer)` (DBB, NID, DPO, I-MLE) | the stack | PyEPO |

Each also accepts `ptf.data.stack_targets(c, w*)`.
"""

from perturbations_tf._src.cave import CaVELoss
from perturbations_tf._src.cave import cave_loss
from perturbations_tf._src.contrastive import CMAPLoss
from perturbations_tf._src.contrastive import NCELoss
from perturbations_tf._src.contrastive import cmap_loss
from perturbations_tf._src.contrastive import nce_loss
from perturbations_tf._src.decision_loss import DecisionLoss
from perturbations_tf._src.fenchel_young import FenchelYoungLoss
from perturbations_tf._src.fenchel_young import fenchel_young_loss
from perturbations_tf._src.frank_wolfe import RegularizedFenchelYoungLoss
from perturbations_tf._src.frank_wolfe import regularized_fenchel_young_loss
from perturbations_tf._src.imitation import ImitationLoss
from perturbations_tf._src.imitation import StructuredSVMLoss
from perturbations_tf._src.imitation import imitation_loss
from perturbations_tf._src.imitation import structured_svm_loss
from perturbations_tf._src.learning_to_rank import ListwiseLTRLoss
from perturbations_tf._src.learning_to_rank import PairwiseLTRLoss
from perturbations_tf._src.learning_to_rank import PointwiseLTRLoss
from perturbations_tf._src.learning_to_rank import listwise_ltr_loss
from perturbations_tf._src.learning_to_rank import pairwise_ltr_loss
from perturbations_tf._src.learning_to_rank import pointwise_ltr_loss
from perturbations_tf._src.least_squares import LeastSquaresLoss
from perturbations_tf._src.least_squares import least_squares_loss
from perturbations_tf._src.perturbation_gradient import PGLoss
from perturbations_tf._src.perturbation_gradient import pg_loss
from perturbations_tf._src.regularized_layers import ClosedFormFenchelYoungLoss
from perturbations_tf._src.spo_plus import SPOPlusLoss
from perturbations_tf._src.spo_plus import spo_plus_loss

__all__ = [
  "CMAPLoss",
  "CaVELoss",
  "ClosedFormFenchelYoungLoss",
  "DecisionLoss",
  "FenchelYoungLoss",
  "ImitationLoss",
  "LeastSquaresLoss",
  "ListwiseLTRLoss",
  "NCELoss",
  "PGLoss",
  "PairwiseLTRLoss",
  "PointwiseLTRLoss",
  "RegularizedFenchelYoungLoss",
  "SPOPlusLoss",
  "StructuredSVMLoss",
  "cave_loss",
  "cmap_loss",
  "fenchel_young_loss",
  "imitation_loss",
  "least_squares_loss",
  "listwise_ltr_loss",
  "nce_loss",
  "pairwise_ltr_loss",
  "pg_loss",
  "pointwise_ltr_loss",
  "regularized_fenchel_young_loss",
  "spo_plus_loss",
  "structured_svm_loss",
]
