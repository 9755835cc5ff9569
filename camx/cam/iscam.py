"""IS-CAM: Score-CAM with each channel's score averaged along a path of scaled masks."""

from __future__ import annotations

import torch
from torch import Tensor

from camx.cam.base import CamRun, ChannelWeightMethod
from camx.cam.inference import inference_copy
from camx.cam.score import _check_top_k, _forward_probs, channel_selection, masked_scores
from camx.errors import ConfigError


def path_coefficients(n_steps: int) -> list[float]:
    """c_i = Σ_{j=0}^{i−1} j/N = i(i−1)/(2N) for i = 1..N: the scale of the i-th mask (c_1 = 0)."""
    return [i * (i - 1) / (2 * n_steps) for i in range(1, n_steps + 1)]


@torch.inference_mode()
def integrated_scores(run: CamRun, select: Tensor, n_steps: int, what: str = "iscam") -> Tensor:
    """α_bk = (1/N) Σ_i softmax(f(X_b ⊙ c_i s(Up(A_bk))))_c for the selected pairs, else 0; (B, C).

    Step i is Score-CAM's scoring of the input scaled by c_i (X ⊙ c_i M = (c_i X) ⊙ M), so it shares
    Score-CAM's chunking and its de-duplication of constant and equal masks. A zero step (c_1 = 0)
    masks every pair to the zero image: one forward of that image scores them all.
    """
    act, targets = run.activation, run.targets
    out = torch.zeros(act.shape[:2], dtype=torch.float32, device=act.device)
    if not bool(select.any()):
        return out
    for c in path_coefficients(n_steps):
        if c == 0.0:
            zero = run.images.new_zeros((1, *run.images.shape[1:]))
            p0 = _forward_probs(inference_copy(run.model), zero, what)[0]
            out += torch.where(select, p0[targets][:, None], 0.0)
            continue
        out += masked_scores(
            run.model, run.images * c, act, targets, select=select, chunk_size=run.chunk_size, what=what
        )
    return out / n_steps


class ISCAM(ChannelWeightMethod):
    """IS-CAM (Naidu, Ghosh, Maurya, Nayak K & Kundu, "IS-CAM: Integrated Score-CAM for
    axiomatic-based explanations", arXiv:2010.03023, 2020), Score-CAM's score averaged over the
    paper's N masks M_i = Σ_{j=0}^{i−1} (j/N) · s(Up(A_k)), i = 1..N (the paper's algorithm as its
    TorchCAM maintainer quotes it in frgfm/torch-cam#154; the PDF was not readable offline):

        α_k^c = (1/N) Σ_{i=1..N} softmax(f(X ⊙ c_i s(Up(A_k))))_c,   c_i = i(i−1)/(2N),
        L^c = ReLU(Σ_k α_k^c A_k),

    with Up bilinear upsampling to the input size, s min–max normalisation and the score of camx's
    Score-CAM (the class probability of the masked input). The scales are the paper's: they start at
    0 (c_1 = 0, the zero image) and exceed 1 once i(i−1) > 2N (i ≥ 6 for N = 10; c_N = (N−1)/2).
    TorchCAM 0.5's code scales the i-th mask by Σ_{j=1}^{i} j/N = i(i+1)/(2N) (its docstring states
    the paper's sum) and scores a channel by the softmax over *channels* of the mean logit gain
    (docs/METHODS.md).

    Options: ``n_steps`` (N, default 10, TorchCAM's ``num_samples`` and the authors' code), ``top_k``
    (default None = every channel; k: only the k channels with the largest spatial mean activation,
    the others weigh 0). Deterministic; a map does not depend on its batch. Cost: N − 1 forward passes
    per scored channel (the zero step is one forward for the batch), ``chunk_size`` masked images per pass.
    """

    name = "iscam"
    paper = "Naidu et al., arXiv:2010.03023, 2020"
    summary = "Score-CAM with each channel's score averaged over the paper's N scaled copies of its mask"
    cost = "1 forward + N−1 per channel"

    def __init__(self, *, n_steps: int = 10, top_k: int | None = None) -> None:
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise ConfigError(f"iscam: n_steps={n_steps!r} must be a positive integer (e.g. 10)")
        self.n_steps = n_steps
        self.top_k = _check_top_k("iscam", top_k)

    def weights(self, run: CamRun) -> Tensor:
        select = channel_selection(run.activation, self.top_k)
        return integrated_scores(run, select, self.n_steps)
