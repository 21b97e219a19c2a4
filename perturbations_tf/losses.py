"""Losses over solvers: Keras classes and their functional forms.

| loss | natural `y_true` | paper |
|---|---|---|
| `FenchelYoungLoss`, `fenchel_young_loss` | `w*` | Berthet et al. (2020) |
| `SPOPlusLoss`, `spo_plus_loss` | costs `c` | Elmachtoub & Grigas (2022) |
| `NCELoss`, `nce_loss` | `w*` | Mulamba et al. (2021) |
| `CMAPLoss`, `cmap_loss` | `w*` | Mulamba et al. (2021) |

Each also accepts `ptf.data.stack_targets(c, w*)` (also `ptf.stack_targets`).
"""

from perturbations_tf._src.contrastive import CMAPLoss
from perturbations_tf._src.contrastive import NCELoss
from perturbations_tf._src.contrastive import cmap_loss
from perturbations_tf._src.contrastive import nce_loss
from perturbations_tf._src.fenchel_young import FenchelYoungLoss
from perturbations_tf._src.fenchel_young import fenchel_young_loss
from perturbations_tf._src.spo_plus import SPOPlusLoss
from perturbations_tf._src.spo_plus import spo_plus_loss

__all__ = [
  "CMAPLoss",
  "FenchelYoungLoss",
  "NCELoss",
  "SPOPlusLoss",
  "cmap_loss",
  "fenchel_young_loss",
  "nce_loss",
  "spo_plus_loss",
]
