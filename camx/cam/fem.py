"""FEM, the Feature Explanation Method: channels weighted by how much of them stands out (k-sigma rule)."""

from __future__ import annotations

from torch import Tensor

from camx.cam.base import CamRun, ChannelWeightMethod
from camx.errors import check_range


class FEM(ChannelWeightMethod):
    """FEM (Fuad, Martin, Giot, Bourqui, Benois-Pineau & Zemmari, "Features Understanding in 3D CNNs
    for Actions Recognition in Video", IPTA 2020), gradient-free and class-agnostic, as
    pytorch-grad-cam 1.5 (class ``FEM``) computes it:

        B_k(i,j) = [A_k(i,j) > μ_k + k·σ_k]     (k-sigma rule; μ_k, σ_k: mean and population std of A_k),
        w_k = (1/hw) Σ_ij B_k(i,j),              L = ReLU(Σ_k w_k A_k).

    A channel weighs the share of its positions that stand out from its own distribution. Option
    ``k`` (default 2, as in pytorch-grad-cam). A constant channel has no position above its mean,
    so its weight is 0. The definition is pytorch-grad-cam's: the paper's text could not be checked
    offline when this was written (docs/METHODS.md).
    """

    name = "fem"
    paper = "Fuad et al., IPTA 2020"
    summary = "activations weighted by the share of their positions above mean + k·std; class-agnostic"
    cost = "1 forward"

    def __init__(self, *, k: float = 2.0) -> None:
        self.k = check_range("fem: k", k)

    def weights(self, run: CamRun) -> Tensor:
        act = run.activation
        mean = act.mean(dim=(2, 3), keepdim=True)
        std = act.std(dim=(2, 3), keepdim=True, correction=0)
        return (act > mean + self.k * std).to(act.dtype).mean(dim=(2, 3))
