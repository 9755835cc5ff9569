"""Model plumbing shared by every CAM method: a context manager that restores the model, and a probe.

:func:`frozen_model` puts the model in evaluation mode (optionally with its stochastic modules,
Dropout and DropKey, in training mode, for Monte-Carlo sampling) and turns off ``requires_grad`` on every
parameter, so a forward pass builds no autograd graph through the backbone. On exit it restores
the train/eval flag of every module and the ``requires_grad`` flag of every parameter; it never
touches parameter ``.grad`` buffers.

:class:`Probe` registers forward hooks (removed on exit) that capture the target layer's output
``A`` and hand the rest of the network a copy of a *leaf* tensor: in gradient mode that leaf
requires grad, so ``torch.autograd.grad(score, A)`` backpropagates through the head only. The
layers before ``A`` then run under ``torch.inference_mode()`` and only the head records autograd
history (a model whose head reuses an earlier tensor in a way autograd must save is found out on
its first pass and from then on runs in grad mode throughout).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from camx.cam.protocol import is_stochastic
from camx.cam.reshape import Reshape, to_map
from camx.cam.token_tail import ClassTokenTail, class_token_tail
from camx.errors import ConfigError

#: Target layers whose head needs an inference tensor for its backward pass (see :meth:`Probe.run`).
_GRAD_MODE_BODY: weakref.WeakSet[nn.Module] = weakref.WeakSet()


@contextmanager
def frozen_model(model: nn.Module, *, stochastic: bool = False) -> Iterator[nn.Module]:
    """Evaluate ``model`` in eval mode with parameter gradients off; restore every flag on exit.

    With ``stochastic=True`` the stochastic modules (:func:`camx.cam.protocol.is_stochastic`: torch's
    dropouts and modules with ``cam_stochastic``, e.g. camx's DropKey) run in training mode while
    everything else (BatchNorm in particular) stays in eval mode.
    """
    modes = [(module, module.training) for module in model.modules()]
    flags = [(param, param.requires_grad) for param in model.parameters()]
    try:
        model.eval()
        if stochastic:
            for module in model.modules():
                if is_stochastic(module):
                    module.train()
        for param, _ in flags:
            param.requires_grad_(False)
        yield model
    finally:
        for module, training in modes:
            module.training = training
        for param, requires_grad in flags:
            param.requires_grad_(requires_grad)


def module_name(model: nn.Module, module: nn.Module) -> str:
    """Dotted name of ``module`` inside ``model`` (``"<model>"`` for the model itself)."""
    for name, candidate in model.named_modules():
        if candidate is module:
            return name or "<model>"
    return type(module).__name__


def _is_feature_map(output: Any) -> bool:
    return isinstance(output, Tensor) and output.ndim == 4 and output.shape[2:].numel() > 1


@dataclass
class Pass:
    """One forward pass: the target layer's activation as a (B, C, h, w) map and the model's logits.

    ``leaf`` is the layer's raw output as the head saw it (tokens for a ViT); ``activation`` is
    ``reshape(leaf)`` (:mod:`camx.cam.reshape`; the leaf itself for a 4-D feature map).
    """

    activation: Tensor
    logits: Tensor
    head: tuple[nn.Module, ...] = field(default_factory=tuple)
    leaf: Tensor | None = None
    reshape: Reshape = "auto"
    image_hw: tuple[int, int] = (0, 0)
    _grads: tuple[Tensor, Tensor] | None = field(default=None, repr=False)

    def gradients(self, targets: Tensor) -> Tensor:
        """∂(Σ_b y_b^{c_b}) / ∂A: the raw target logits summed over the batch, differentiated w.r.t. A only.

        One backward pass per pass and targets: asked again for the same targets (another gradient
        method on this pass, :func:`camx.cam.explain_many`), it returns the same tensor, which
        callers must not modify in place.
        """
        if self._grads is not None and torch.equal(self._grads[0], targets):
            return self._grads[1]
        # works inside a caller's no_grad() or inference_mode() too
        with torch.inference_mode(False), torch.enable_grad():
            score = self.logits.gather(1, targets.clone().view(-1, 1)).sum()
        if not score.requires_grad:
            raise ConfigError(
                "the model's logits do not depend differentiably on the target layer; pick another target_layer"
            )
        leaf = self.activation if self.leaf is None else self.leaf
        (grad,) = torch.autograd.grad(score, leaf, allow_unused=True)
        if grad is None:
            raise ConfigError("the target layer does not influence the logits; pick another target_layer")
        if leaf is not self.activation:
            grad = to_map(grad, self.reshape, self.image_hw)
        self._grads = (targets.clone(), grad)
        return grad


class Probe:
    """Forward hooks that capture the target layer's output during :meth:`run`.

    ``layer=None`` picks the *last module, in order of completion, whose output is a 4-D tensor
    with more than one spatial position* (the rule TorchCAM's ``locate_candidate_layer`` uses),
    found by hooks on every module during the first pass; later passes reuse that module.
    ``track=True`` also records the modules that run after the target layer (its ancestors
    excluded); the ``cam`` method uses them to find the classifier's linear layer.
    A module called several times in one forward pass is captured at its last call.
    """

    def __init__(
        self,
        model: nn.Module,
        layer: nn.Module | None,
        *,
        gradients: bool,
        track: bool = False,
        reshape: Reshape = "auto",
    ) -> None:
        self.model = model
        self.layer = layer
        self.reshape = reshape
        self.gradients = gradients
        self.track = track
        self._handles: list[RemovableHandle] = []
        self._recording = False
        self._order: list[nn.Module] = []
        self._captured: tuple[nn.Module, Tensor, int] | None = None
        self._bad_output: str | None = None
        self._split = False  # this pass: body in inference mode, head in grad mode from the target layer
        self._head_mode: list[Any] = []  # the grad-mode contexts entered at the target layer

    def __enter__(self) -> Probe:
        hook_all = self.layer is None or self.track
        modules = [m for m in self.model.modules() if m is not self.model] if hook_all else [self.layer]
        for module in modules:
            assert module is not None
            self._handles.append(module.register_forward_hook(self._hook))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._captured = None
        self._order = []

    def _hook(self, module: nn.Module, _inputs: Any, output: Any) -> Tensor | None:
        if not self._recording:
            return None
        if self.track:
            self._order.append(module)
        if self.layer is not None:
            if module is not self.layer:
                return None
            if not isinstance(output, Tensor):  # tuples, dicts: nothing a reshape can read
                self._bad_output = type(output).__name__
                return None
        elif not _is_feature_map(output):
            return None
        if self._split and not self._head_mode:  # from here on the head records autograd history
            self._head_mode = [torch.inference_mode(False), torch.enable_grad()]
            for mode in self._head_mode:
                mode.__enter__()
        # A private copy: in-place operations downstream (ReLU(inplace=True), `out += identity`)
        # must not change the captured activation. (Outside inference mode the copy is a normal tensor.)
        activation = output.detach().clone()
        self._captured = (module, activation, len(self._order))
        if not self.gradients:
            return None
        activation.requires_grad_(True)
        return activation.clone()  # a non-leaf, so in-place operations downstream stay legal

    def run(self, images: Tensor) -> Pass:
        """Forward ``images`` once; return the captured activation and the logits.

        Without gradients the pass runs under ``torch.inference_mode()``. In gradient mode (also
        inside a caller's ``no_grad()`` or ``inference_mode()``), once the target layer is known,
        the layers before it run under ``torch.inference_mode()`` (no autograd bookkeeping where
        no gradient will flow) and the rest in grad mode; if the head then needs an inference
        tensor for its backward pass, passes to this target layer run in grad mode from then on.
        """
        if self.layer is None and images.shape[0] > 1:
            self._locate(images[:1])
        if not self.gradients:
            with torch.inference_mode():
                return self._forward(images, split=False)
        tail = None if self.track else class_token_tail(self.model, self.layer)
        if tail is not None:
            return self._tail_pass(images, tail)
        if self.layer is not None and self.layer not in _GRAD_MODE_BODY:
            try:
                with torch.inference_mode():
                    return self._forward(images, split=True)
            except RuntimeError as exc:
                if "nference tensor" not in str(exc):
                    raise
                _GRAD_MODE_BODY.add(self.layer)
        with torch.inference_mode(False), torch.enable_grad():
            return self._forward(images, split=False)

    def _tail_pass(self, images: Tensor, tail: ClassTokenTail) -> Pass:
        """The whole model in inference mode, then only the class-token tail (:mod:`camx.cam.token_tail`) in
        grad mode from a copy of the captured tokens: its logits are the pass's, differentiable w.r.t. them."""
        inputs: list[Tensor] = []
        handle = tail.block.register_forward_pre_hook(lambda _module, args: inputs.append(args[0]))
        self.gradients = False
        try:
            with torch.inference_mode():
                first = self._forward(images, split=False)
        finally:
            self.gradients = True
            handle.remove()
        assert first.leaf is not None  # tokens, so the map is a reshaped copy
        with torch.inference_mode(False), torch.enable_grad():
            leaf = first.leaf.clone().requires_grad_(True)
            logits = tail(inputs[-1].clone(), leaf)
        with torch.no_grad():
            activation = to_map(leaf.detach(), self.reshape, first.image_hw)
        return Pass(
            activation=activation, logits=logits, leaf=leaf, reshape=self.reshape, image_hw=first.image_hw
        )

    def _locate(self, image: Tensor) -> None:
        """Resolve ``layer=None`` on one image forwarded in inference mode, by the hooks' rule (the last module
        whose output is a feature map), so the batch's pass hooks that layer alone: no copy of every feature
        map, and the body in inference mode. Left unresolved for a model with a module in training mode (a
        forward would draw from its random state) or one that cannot take the single image."""
        if any(m.training for m in self.model.modules()):
            return
        found: list[nn.Module] = []

        def note(module: nn.Module, _inputs: Any, output: Any) -> None:
            if _is_feature_map(output):
                found.append(module)

        handles = [m.register_forward_hook(note) for m in self.model.modules() if m is not self.model]
        try:
            with torch.inference_mode():
                self.model(image)
        except Exception:  # the batch's own pass reports what is wrong
            return
        finally:
            for handle in handles:
                handle.remove()
        if found:
            self.layer = found[-1]

    def _forward(self, images: Tensor, *, split: bool) -> Pass:
        self._captured, self._order, self._bad_output = None, [], None
        self._recording, self._split = True, split
        try:
            logits = self.model(images)
        finally:
            self._recording, self._split = False, False
            for mode in reversed(self._head_mode):
                mode.__exit__(None, None, None)
            self._head_mode = []
        if self._bad_output is not None:
            raise ConfigError(
                f"target_layer={module_name(self.model, self.layer) if self.layer else '?'!r} outputs {self._bad_output}; "
                "CAM methods need a layer whose output is a 4-D feature map (B, C, h, w)"
            )
        if self._captured is None:
            if self.layer is None:
                raise ConfigError(
                    "no module of this model outputs a 4-D feature map (B, C, h, w); pass target_layer"
                )
            raise ConfigError(
                f"target_layer={module_name(self.model, self.layer)!r} did not run during the forward pass; pick another layer"
            )
        if not (isinstance(logits, Tensor) and logits.ndim == 2):
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise ConfigError(f"the model must return logits of shape (B, K); it returned {shape}")
        module, leaf, index = self._captured
        self.layer = module
        image_hw = (int(images.shape[-2]), int(images.shape[-1]))
        with torch.no_grad():
            activation = to_map(leaf, self.reshape, image_hw)
        head: tuple[nn.Module, ...] = ()
        if self.track:
            ancestors = {id(m) for m in self.model.modules() if any(sub is module for sub in m.modules())}
            head = tuple(m for m in self._order[index:] if id(m) not in ancestors)
        return Pass(
            activation=activation,
            logits=logits,
            head=head,
            leaf=None if activation is leaf else leaf,
            reshape=self.reshape,
            image_hw=image_hw,
        )
