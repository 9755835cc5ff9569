"""Score-weighted methods: Score-CAM and Grad++ScoreCAM.

Both weigh each activation channel by the target-class probability of the input masked with
that channel's normalised activation. :func:`masked_scores` does the masked forward passes for a
whole batch at once: every selected (image, channel) pair becomes one masked image, and the
masked images go through the model in chunks of ``chunk_size`` under ``torch.inference_mode()``,
so memory is bounded by the chunk and there is no Python loop over channels. A channel whose
activation is constant has an all-zero normalised mask, so its masked input is the zero tensor
whatever the image: camx forwards one zero image and reuses its score for all such pairs; channels
of one image with equal normalised maps share one forward pass too. The forward passes use
:func:`camx.cam.inference.inference_copy` (BatchNorm folded, channels-last on CPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from camx.cam.base import CamRun, ChannelWeightMethod, is_constant, minmax
from camx.cam.gradient import gradcampp_weights
from camx.cam.inference import inference_copy, inference_layout
from camx.cam.protocol import min_side, model_label
from camx.cam.score_groups import plan_groups
from camx.errors import ConfigError

#: ``chunk_size="auto"`` on CPU: as many masked images per forward as keep chunk·H·W ≤ this many pixels.
AUTO_CHUNK_PIXELS = 2**18
#: ``chunk_size="auto"`` on an accelerator (not measured here: this machine has none).
AUTO_CHUNK_ACCELERATOR = 64


def chunk_for(chunk_size: int | str, size: tuple[int, int], device: torch.device) -> int:
    """Masked images per forward pass: ``chunk_size`` itself, or for ``"auto"`` on CPU the largest
    chunk with chunk·H·W ≤ :data:`AUTO_CHUNK_PIXELS` (at least 1): 5 images of 224², 113 of 48².

    Measured on 2 CPU cores (docs/PERFORMANCE.md, "Peak memory of the score family"): ResNet50 forwards cost
    ~54 ms per image in chunks of 4–8 at 224 px but ~75 ms in chunks of 64, whose activations no
    longer fit the caches; at 48 px chunks of ~128 are fastest. Maps do not depend on the chunk.
    """
    if chunk_size != "auto":
        return int(chunk_size)
    if device.type != "cpu":
        return AUTO_CHUNK_ACCELERATOR
    return max(1, AUTO_CHUNK_PIXELS // max(1, size[0] * size[1]))


def _forward_probs(model: nn.Module, x: Tensor, what: str) -> Tensor:
    try:
        logits = model(x)
    except (RuntimeError, AssertionError, ValueError) as exc:  # timm's fixed-size models assert
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{what}: the model cannot classify the {x.shape[-2]}×{x.shape[-1]} masked inputs ({first}); "
            "use a larger input or score_size"
        ) from None
    return torch.softmax(logits.float(), dim=1)


@torch.inference_mode()
def masked_scores(
    model: nn.Module,
    images: Tensor,
    activation: Tensor,
    targets: Tensor,
    *,
    select: Tensor | None = None,
    chunk_size: int | str = "auto",
    dedup: bool = True,
    what: str = "scorecam",
) -> Tensor:
    """Score of every selected channel: ``softmax(f(X_b ⊙ s(Up(A_bk))))[c_b]``, shape (B, C).

    ``images`` (B, 3, H, W) is the input the masks multiply (Score-CAM: the input; Grad++ScoreCAM:
    the downsized input); ``Up`` resizes A_bk bilinearly (align_corners=False) to H×W and ``s`` is
    min–max over the mask (constant up to rounding → 0, :func:`~camx.cam.base.is_constant`).
    Unselected entries are 0. ``dedup=False`` forwards the
    constant-channel masks too (same result, more work; for tests). ``chunk_size``: masked images
    per forward, or ``"auto"`` (:func:`chunk_for`).
    """
    b, c = activation.shape[:2]
    out = torch.zeros(b, c, dtype=torch.float32, device=activation.device)
    if select is None:
        select = torch.ones(b, c, dtype=torch.bool, device=activation.device)
    b_idx, k_idx = select.nonzero(as_tuple=True)
    if b_idx.numel() == 0:
        return out
    model = inference_copy(model)
    src = activation[b_idx, k_idx]  # (n, h, w): activation-sized, cheap
    scores = torch.empty(b_idx.numel(), dtype=torch.float32, device=activation.device)
    live = torch.arange(b_idx.numel(), device=activation.device)
    if dedup:
        live = _score_constant_masks(model, images, src, targets[b_idx], scores, what)
    todo, inverse = _distinct_masks(src, b_idx, live) if dedup else (live, None)
    _score_masks(model, images, src, b_idx, targets, todo, scores, chunk_size, what)
    if inverse is not None:
        scores[live] = scores[todo][inverse]
    out[b_idx, k_idx] = scores
    return out


def _score_constant_masks(
    model: nn.Module, images: Tensor, src: Tensor, targets: Tensor, scores: Tensor, what: str
) -> Tensor:
    """Score the pairs whose activation is constant (all-zero mask, so the masked input is the zero
    image whatever the image): one forward of the zero image. Returns the indices of the other pairs."""
    constant = is_constant(src)
    if not bool(constant.any()):
        return torch.arange(src.shape[0], device=src.device)
    p0 = _forward_probs(model, images.new_zeros((1, *images.shape[1:])), what)[0]
    scores[constant] = p0[targets[constant]]
    return (~constant).nonzero().squeeze(1)


def _distinct_masks(src: Tensor, b_idx: Tensor, live: Tensor) -> tuple[Tensor, Tensor | None]:
    """Two channels of one image whose min–max normalised maps are equal (e.g. both active at a single
    position) give the same masked image: (one representative per distinct (image, map), the index of
    each live pair's representative among them — None when every map is distinct)."""
    if live.numel() <= 1:
        return live, None
    keys = torch.cat([b_idx[live, None].to(src.dtype), minmax(src[live]).flatten(1)], 1)
    distinct, inverse = torch.unique(keys, dim=0, return_inverse=True)
    if distinct.shape[0] == live.numel():
        return live, None
    first = torch.full((distinct.shape[0],), live.numel(), dtype=torch.long, device=live.device)
    first.scatter_reduce_(0, inverse, torch.arange(live.numel(), device=live.device), "amin")
    return live[first], inverse


def _score_masks(
    model: nn.Module, images: Tensor, src: Tensor, b_idx: Tensor, targets: Tensor, todo: Tensor,
    scores: Tensor, chunk_size: int | str, what: str,
) -> None:  # fmt: skip
    """``scores[todo]``: the target probability of each image masked by s(Up(its activation)), forwarded
    in chunks of :func:`chunk_for` masked images in the inference copy's memory layout."""
    size = (int(images.shape[-2]), int(images.shape[-1]))
    chunk = chunk_for(chunk_size, size, images.device)
    layout = inference_layout(images.device)
    for start in range(0, todo.numel(), chunk):
        sel = todo[start : start + chunk]
        masks = src[sel].unsqueeze(1)
        if tuple(masks.shape[-2:]) != size:
            masks = F.interpolate(masks, size=size, mode="bilinear", align_corners=False)
        masked = images[b_idx[sel]] * minmax(masks).to(images.dtype)
        probs = _forward_probs(model, masked.contiguous(memory_format=layout), what)
        scores[sel] = probs.gather(1, targets[b_idx[sel]].view(-1, 1)).squeeze(1)


def _check_top_k(method: str, top_k: int | None) -> int | None:
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"{method}: top_k={top_k!r} must be a positive integer or None")
    return top_k


def _top_k_mask(values: Tensor, k: int) -> Tensor:
    k = min(k, values.shape[1])
    mask = torch.zeros_like(values, dtype=torch.bool)
    return mask.scatter_(1, values.topk(k, dim=1).indices, True)


def channel_selection(activation: Tensor, top_k: int | None) -> Tensor:
    """(B, C) bool: every channel, or the ``top_k`` of largest spatial mean activation per image."""
    if top_k is None:
        return torch.ones(activation.shape[:2], dtype=torch.bool, device=activation.device)
    return _top_k_mask(activation.mean(dim=(2, 3)), top_k)


def grouped_scores(
    model: nn.Module, images: Tensor, activation: Tensor, targets: Tensor, select: Tensor, groups: int,
    *, soft: float = 0.1, chunk_size: int | str = "auto", what: str = "scorecam",
) -> Tensor:  # fmt: skip
    """:func:`masked_scores` approximated with ``groups`` masked forwards per image
    (:mod:`camx.cam.score_groups`): the selected non-constant channels are grouped by their masks, each
    group's medoid channel is scored exactly, and every channel takes a mixture of the medoids' α.
    Selected constant channels get their exact score (the zero image, one forward). Unselected: 0."""
    b, c = activation.shape[:2]
    constant = is_constant(activation) & select
    picks = constant.clone()
    plans = []
    for i in range(b):
        idx = (select[i] & ~constant[i]).nonzero().squeeze(1)
        if idx.numel() == 0:
            continue
        medoids, mix = plan_groups(activation[i, idx], groups, soft)
        picks[i, idx[medoids]] = True
        plans.append((i, idx, idx[medoids], mix))
    alpha = masked_scores(model, images, activation, targets, select=picks, chunk_size=chunk_size, what=what)
    out = torch.where(constant, alpha, torch.zeros_like(alpha))
    for i, idx, scored, mix in plans:
        out[i, idx] = mix.to(alpha.dtype) @ alpha[i, scored]
    return out


class ScoreCAM(ChannelWeightMethod):
    """Score-CAM (Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional
    Neural Networks", CVPR Workshops 2020, Sec. 3, and the authors' implementation).

    α_k^c = softmax(f(X ⊙ s(Up(A_k))))_c,    L^c = ReLU(Σ_k α_k^c A_k),

    with Up bilinear upsampling to the input size and s min–max normalisation. The softmax is over
    the classes (the class probability of the masked input). pytorch-grad-cam and TorchCAM 0.5
    instead take a softmax over the *channels* of the raw target logits (TorchCAM after
    subtracting the baseline logit, a constant that cancels in that softmax).

    Option ``top_k`` (default None = all channels, as in the paper): score only the k channels with
    the largest spatial mean activation of each image — a speed knob that is not in the paper.
    """

    name = "scorecam"
    paper = "Wang et al., CVPR Workshops 2020"
    summary = "each channel weighted by the class score of the image masked by it"
    cost = "1 forward + 1 per channel"

    def __init__(self, *, top_k: int | None = None) -> None:
        self.top_k = _check_top_k("scorecam", top_k)

    def weights(self, run: CamRun) -> Tensor:
        act = run.activation
        select = None if self.top_k is None else _top_k_mask(act.mean(dim=(2, 3)), self.top_k)
        return masked_scores(
            run.model, run.images, act, run.targets, select=select, chunk_size=run.chunk_size
        )


class GradPlusPlusScoreCAM(ChannelWeightMethod):
    """Grad++ScoreCAM (Soomro et al., "Grad++ScoreCAM: Enhancing Visual Explanations of Deep
    Convolutional Networks Using Incremented Gradient and Score-Weighted Methods", IEEE Access
    2024, Algorithm 1 and Eq. 12–16), as camx implements it:

    1. Grad-CAM++ channel weights w_k (Algorithm 1 steps 1–2). Which channels carry weight:
       ``channels="all"`` (default) every channel, as Eq. 14 sums over all k; ``"positive"`` the
       channels with w_k > 0 (camx's earlier default); ``top_k=k``: the k largest w_k.
    2. Masks H_k = s(A_k), min–max normalised activations (Eq. 13, 16).
    3. The paper downsizes the input instead of upsampling the masks (Sec. III; Algorithm 1 step 8;
       Sec. IV: "reduce the input image to the resolution of the activation maps"). Taken literally
       (7×7 for ResNet50 at 224 px) the forward pass sees an image the network cannot read, and on
       an ImageNet-pretrained CNN with real photos any downsizing costs agreement with exact
       Score-CAM (EfficientNet-Lite0, scikit-image photos, the default's Pearson r ≥ 0.963 at
       the input size falls to −0.13 at half of it; docs/results/gradpp_real.md). So camx forms the
       masked inputs at ``score_size="input"`` by default; ``"half"`` (half the input side, raised
       to the model's ``min_side`` (:mod:`camx.cam.protocol`), capped at the input's),
       ``"activation"`` (the literal reading), an int or (h, w) remain; an explicit size below the
       model's smallest side is a ConfigError.
    3b. Speed (camx's, not the paper's): with ``groups=G`` (default 32) the kept non-constant channels
       are grouped by their masks and only each group's medoid channel is scored; every channel gets a
       softmin-weighted mixture of the medoids' α (temperature ``soft``, default 0.1; 0 = nearest
       medoid) — :mod:`camx.cam.score_groups` states the formula. G masked forwards per image (+1 for
       constant channels, the zero image) instead of one per channel; ``groups=None`` scores every
       kept channel. On EfficientNet-Lite0 (ImageNet weights) with six scikit-image photos the default
       map has Pearson r ≥ 0.95 with exact Score-CAM on each; "positive" channels cap it at 0.954
       even when every one is scored exactly (docs/results/gradpp_real.md).
    4. α_k = softmax(f(X_small ⊙ H_k))_c, the target-class probability (Eq. 12, 15, Algorithm 1
       step 9); L = ReLU(Σ_{k kept} α_k A_k) (Eq. 14, with the target layer's own activations).

    Eq. 12 subtracts a baseline score f(X_b). That subtraction is a per-image constant β, but it
    does *not* cancel under min–max: Σ_k (α_k − β) A_k = Σ_k α_k A_k − β Σ_k A_k changes the map by
    β times the channel-sum map. camx omits it by default, like Score-CAM's reference
    implementation; ``baseline=True`` subtracts β = softmax(f(0))_c, the score of the all-zero
    (mean-image) input at the same size.
    """

    name = "gradpp_scorecam"
    paper = "Soomro et al., IEEE Access 2024"
    summary = "Score-CAM approximated by scoring one medoid channel of each of 32 mask groups"
    cost = "1 forward-backward + 1 per group (+1 if a channel is constant)"
    needs_gradients = True

    def __init__(
        self,
        *,
        top_k: int | None = None,
        score_size: int | tuple[int, int] | str = "input",
        groups: int | None = 32,
        baseline: bool = False,
        channels: str = "all",
        soft: float = 0.1,
    ) -> None:
        if channels not in ("all", "positive"):
            raise ConfigError(f"gradpp_scorecam: channels={channels!r} must be 'all' or 'positive'")
        if isinstance(soft, bool) or not isinstance(soft, (int, float)) or not soft >= 0:
            raise ConfigError(f"gradpp_scorecam: soft={soft!r} must be a number ≥ 0 (0: nearest medoid)")
        self.channels, self.soft = channels, float(soft)
        self.top_k = _check_top_k("gradpp_scorecam", top_k)
        self.groups = None if groups is None else _check_top_k("gradpp_scorecam groups", groups)
        self.score_size = self._check_size(score_size)
        self.baseline = bool(baseline)

    @staticmethod
    def _check_size(size: int | tuple[int, int] | str) -> int | tuple[int, int] | str:
        if isinstance(size, str) and size in ("half", "activation", "input"):
            return size
        if isinstance(size, int) and not isinstance(size, bool) and size >= 1:
            return size
        if (
            isinstance(size, (tuple, list))
            and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)
        ):
            return (int(size[0]), int(size[1]))
        raise ConfigError(
            f"gradpp_scorecam: score_size={size!r} is not valid; use 'half', 'activation', 'input', an int or (h, w)"
        )

    def resolve_size(
        self,
        image_size: tuple[int, int],
        act_size: tuple[int, int],
        min_side: int = 1,
        name: str = "the model",
    ) -> tuple[int, int]:
        """The (h, w) at which the masked inputs are formed.

        ``min_side`` is the smallest side the network (called ``name`` in messages) can classify: a
        model's ``min_side`` (:func:`camx.cam.protocol.min_side`; 1 when it does not say).
        ``"half"`` is raised to that side, capped at the input's side; an explicit size or
        ``"activation"`` smaller than it raises a ConfigError naming the smallest side.
        """
        size = self.score_size
        if size == "half":
            return (
                min(image_size[0], max(1, image_size[0] // 2, min_side)),
                min(image_size[1], max(1, image_size[1] // 2, min_side)),
            )
        if size == "input":
            return image_size
        resolved = act_size if size == "activation" else (size, size) if isinstance(size, int) else size
        assert isinstance(resolved, tuple)
        if min(resolved) < min_side:
            raise ConfigError(
                f"gradpp_scorecam: score_size={size!r} forms {resolved[0]}×{resolved[1]} masked inputs, smaller "
                f"than the {min_side} px {name} can classify; use score_size='half' or a size of at least {min_side}"
            )
        return resolved

    def weights(self, run: CamRun) -> Tensor:
        act = run.activation
        grads = run.gradients()
        g2 = grads.pow(2)
        w = gradcampp_weights(act, grads, g2, g2 * grads)
        if self.top_k is not None:
            select = _top_k_mask(w, self.top_k)
        else:
            select = w > 0 if self.channels == "positive" else torch.ones_like(w, dtype=torch.bool)
        image_size = (int(run.images.shape[-2]), int(run.images.shape[-1]))
        size = self.resolve_size(
            image_size,
            (int(act.shape[-2]), int(act.shape[-1])),
            min_side(run.model),
            model_label(run.model),
        )
        small = run.images
        if size != image_size:
            small = F.interpolate(run.images, size=size, mode="bilinear", align_corners=False, antialias=True)
        what = f"gradpp_scorecam (score_size={self.score_size!r})"
        if self.groups is None:
            alpha = masked_scores(
                run.model, small, act, run.targets, select=select, chunk_size=run.chunk_size, what=what
            )
        else:
            alpha = grouped_scores(
                run.model, small, act, run.targets, select, self.groups,
                soft=self.soft, chunk_size=run.chunk_size, what=what,
            )  # fmt: skip
        if self.baseline:
            with torch.inference_mode():
                p0 = _forward_probs(run.model, small.new_zeros((1, *small.shape[1:])), what)[0]
            alpha = torch.where(select, alpha - p0[run.targets].view(-1, 1), torch.zeros_like(alpha))
        return alpha
