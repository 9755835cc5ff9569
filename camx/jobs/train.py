"""``camx train``: fit a model on a dataset's train split, validate each epoch, checkpoint atomically.

Checkpoints go to ``<run_dir>/checkpoints/``: ``best.pt`` (highest validation accuracy) and
``last.pt`` (everything needed to resume: optimizer, scheduler, RNG state and the position inside
the epoch). SIGINT/SIGTERM stop training at the next step, write ``last.pt`` at that exact position
and raise :class:`Interrupted`; ``trainer.resume=true`` then continues to the same weights an
uninterrupted run reaches (on CPU, same seed): sample order, dropout/DropKey draws and the schedule
are all restored. Every DataLoader gets its own seeded generator, so creating one (e.g. the fresh
loader of a resumed epoch) never draws from the global RNG that dropout and DropKey use.

With ``dataset=imagefolder`` unreadable files never stop training: files whose header cannot be
read are dropped when the dataset is built, files that fail to decode are skipped batch by batch;
each is reported once through ``Reporter.note`` and listed under ``skipped_images`` in ``run.json``.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

import camx
from camx import distributed
from camx.checkpoint import load_backbone, read_checkpoint, save_checkpoint
from camx.data.datasets import build_dataset, class_names, resolve_image_size
from camx.data.transforms import normalize
from camx.data.unreadable import unreadable
from camx.errors import CamxError, CheckpointError
from camx.jobs.guard import Diverged, DivergenceGuard
from camx.jobs.lr_find import LrFindResult, lr_range_test
from camx.jobs.progress import SILENT, Reporter
from camx.jobs.signals import ignore_stop_signals, signals_blocked, stop_on_signals, worker_context
from camx.models import build_model
from camx.models.target_layer import validate_target_layer
from camx.options.model import requested_target_layer
from camx.options.trainer import is_auto_lr, validate_trainer
from camx.recovery import record_failure, recover_stale, resume_lock, this_process
from camx.runs import find_runs, write_run_record
from camx.runtime import seed_everything


class Interrupted(Exception):
    """Training was stopped by a signal; ``checkpoint`` holds the resumable state."""

    def __init__(self, checkpoint: Path, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}; state saved to {checkpoint}")
        self.checkpoint, self.signum = checkpoint, signum


@dataclass
class TrainResult:
    run_dir: Path
    best: Path
    last: Path
    best_val_accuracy: float
    history: list[dict[str, float]] = field(default_factory=list)
    images_per_second: float = 0.0
    seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)  #: unreadable image path → reason (imagefolder)


def epoch_size(t: Mapping[str, Any], epoch: int) -> int | None:
    """Input side of ``epoch`` under progressive resizing (``trainer.sizes``: one side per epoch, the last
    repeated), or None to keep the dataset's size."""
    sizes = t.get("sizes")
    if not sizes:
        return None
    sizes = list(sizes)
    return int(sizes[min(epoch, len(sizes) - 1)])


def _optimizer(model: nn.Module, t: Mapping[str, Any]) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:  # a frozen backbone's parameters are not optimised
            (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": float(t["weight_decay"])},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if t["optimizer"] == "adamw":
        return torch.optim.AdamW(groups, lr=float(t["lr"]))
    return torch.optim.SGD(groups, lr=float(t["lr"]), momentum=float(t.get("momentum", 0.9)), nesterov=True)


def freeze_backbone(model: nn.Module) -> None:
    """Stop training everything outside ``model.head``: no gradients, and (see :func:`train_mode`)
    BatchNorm statistics kept as loaded. The backbone's forward pass then builds no autograd graph."""
    for name, param in model.named_parameters():
        if not name.startswith("head."):
            param.requires_grad_(False)


def train_mode(model: nn.Module, frozen_backbone: bool) -> None:
    """``model.train()``, except that a frozen backbone stays in eval mode."""
    model.train()
    if frozen_backbone:
        for name, child in model.named_children():
            if name != "head":
                child.eval()


def _scheduler(
    opt: torch.optim.Optimizer, t: Mapping[str, Any], total: int
) -> torch.optim.lr_scheduler.LRScheduler:
    if t["schedule"] == "onecycle" and total >= 4:
        pct = min(max(float(t.get("warmup", 0.25)), 2.0 / total), 0.5)  # at least two warm-up steps
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=float(t["lr"]), total_steps=total, pct_start=pct
        )
    if t["schedule"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def _loader_generator(seed: int, epoch: int) -> torch.Generator:
    """A private generator for a DataLoader: its base seed never comes from (or advances) the global RNG."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch + 1)


def batch_inputs(
    batch: Mapping[str, Any], device: torch.device, side: int | None, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A training batch's normalised inputs (resized to ``side`` when set) and labels, without the samples
    imagefolder could not decode; None when none is left."""
    x = normalize(batch["image"].to(device, non_blocking=True))
    y = batch["label"].to(device)
    if side and tuple(x.shape[-2:]) != (side, side):  # progressive resizing
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    if "valid" in batch:  # imagefolder: skip unreadable files
        keep = batch["valid"].bool().to(device)
        x, y = x[keep], y[keep]
        if len(y) == 0:
            return None
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def find_lr(
    model: nn.Module,
    net: nn.Module,
    train_set: Dataset,
    t: Mapping[str, Any],
    device: torch.device,
    channels_last: bool,
) -> LrFindResult:
    """``trainer.lr=auto``: the range test of :mod:`camx.jobs.lr_find` on the training set, with the run's
    optimizer and batch size (weights and RNG state restored afterwards)."""
    f = t.get("lr_find") or {}
    start, bs, seed = float(f.get("start", 1e-7)), int(t["batch_size"]), int(t.get("seed", 0))

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for sweep in itertools.count():  # as many passes over the training set as the sweep needs
            g = _loader_generator(seed, -2 - sweep)
            for batch in DataLoader(train_set, batch_size=bs, shuffle=True, generator=g):
                inputs = batch_inputs(batch, device, epoch_size(t, 0), channels_last)
                if inputs is not None:
                    yield inputs

    was_training = model.training
    train_mode(model, bool(t.get("freeze_backbone", False)))
    try:
        return lr_range_test(
            model,
            lambda x, y: nn.functional.cross_entropy(net(x), y),
            batches(),
            _optimizer(model, {**t, "lr": start}),
            steps=int(f.get("steps", 100)),
            start=start,
            end=float(f.get("end", 10.0)),
        )
    finally:
        model.train(was_training)


def diverged_message(
    reason: str, epoch: int, step: int, t: Mapping[str, Any], ckpt_dir: Path, history: list[dict[str, Any]]
) -> str:
    """The one line of a run the guard stopped: where, why, which checkpoints are left, what to try."""
    where = f"training diverged at epoch {epoch + 1}, step {step + 1} ({reason}); stopped"
    if history:
        best = max(history, key=lambda h: h["val_accuracy"])
        kept = (
            f"kept the last good checkpoints: {ckpt_dir / 'best.pt'} (epoch {best['epoch']}, val acc "
            f"{best['val_accuracy']:.3f}) and {ckpt_dir / 'last.pt'} (epoch {history[-1]['epoch']})"
        )
    else:
        kept = f"no epoch had finished: {ckpt_dir / 'last.pt'} holds the starting weights"
    hint = "lower trainer.lr" + ("" if is_auto_lr(t.get("lr")) else " or pass trainer.lr=auto")
    return f"{where}; {kept}; {hint} (it was {float(t['lr']):.3g})"


def evaluate_accuracy(
    model: nn.Module,
    dataset: Dataset,
    device: torch.device,
    batch_size: int,
    channels_last: bool = False,
    skipped: dict[str, str] | None = None,
) -> tuple[float, float]:
    """(accuracy, mean softmax probability of the true class) of ``model`` on ``dataset``.

    Samples flagged unreadable (imagefolder's ``valid == 0``) are left out and added to ``skipped``.
    """
    was_training = model.training
    model.eval()
    correct, conf, n = 0, 0.0, 0
    with torch.inference_mode():
        for batch in DataLoader(dataset, batch_size=batch_size, generator=_loader_generator(0, -1)):
            x = normalize(batch["image"].to(device))
            y = batch["label"].to(device)
            if "valid" in batch:
                if skipped is not None:
                    skipped.update(unreadable(batch))
                keep = batch["valid"].bool().to(device)
                x, y = x[keep], y[keep]
                if len(y) == 0:
                    continue
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            probs = model(x).float().softmax(1)
            correct += int((probs.argmax(1) == y).sum())
            conf += float(probs.gather(1, y[:, None]).sum())
            n += len(y)
    model.train(was_training)
    return correct / max(n, 1), conf / max(n, 1)


def _epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def _resume_source(cfg: Mapping[str, Any]) -> Path | None:
    resume = cfg["trainer"].get("resume", False)
    if resume in (False, None, "false", "False"):
        return None
    if resume not in (True, "true", "True"):
        path = Path(str(resume))
        path = path / "checkpoints" / "last.pt" if path.is_dir() else path
        if not path.is_file():
            raise CheckpointError(
                f"trainer.resume={resume}: no last.pt there; pass a run dir or its checkpoints/last.pt"
            )
        return path
    arch, head = cfg["model"]["arch"], cfg["model"]["head"]
    for rec in find_runs(cfg.get("outputs_dir", "outputs"), arch=arch, head=head):
        last = Path(rec["run_dir"]) / "checkpoints" / "last.pt"
        # "running" with a pid is a live run (recover_stale marked the dead ones "interrupted")
        live = rec.get("status") == "running" and "pid" in rec
        if rec.get("status") not in ("finished", "resumed", "diverged") and not live and last.is_file():
            return last
    raise CheckpointError(
        f"trainer.resume=true but no interrupted {arch}/{head} run was found under {cfg.get('outputs_dir', 'outputs')}; "
        "start a fresh run without trainer.resume"
    )


def _mark_resumed(source: Path, run_dir: Path) -> None:
    """Record in the source run's ``run.json`` that ``run_dir`` continues it, so ``resume=true`` skips it next time."""
    import json

    rec_path = source.parent.parent / "run.json"
    try:
        rec = json.loads(rec_path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(rec, dict) and rec.get("status") != "finished":
        write_run_record(
            rec_path.parent, {**rec, "status": "resumed", "resumed_by": str(Path(run_dir).resolve())}
        )


def train(cfg: Mapping[str, Any], run_dir: str | Path, reporter: Reporter = SILENT) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.dataset`` with ``cfg.trainer``; write checkpoints and ``run.json`` into ``run_dir``.

    First the runs under ``outputs_dir`` left by killed processes are tidied
    (:func:`camx.recovery.recover_stale`). A run that continues another (``trainer.resume``) holds
    that run's lock while it trains (:func:`camx.recovery.resume_lock`). A failure after ``run.json``
    was written records ``"status": "failed"`` and the reason there before it is raised.
    """
    recover_stale(cfg.get("outputs_dir", "outputs"))
    with contextlib.ExitStack() as locks:
        try:
            return _train(cfg, Path(run_dir), reporter, locks)
        except Interrupted:
            raise
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt)
            reason = "interrupted" if interrupted else str(exc) if isinstance(exc, CamxError) else repr(exc)
            record_failure(Path(run_dir), "interrupted" if interrupted else "failed", reason)
            raise


def _train(
    cfg: Mapping[str, Any], run_dir: Path, reporter: Reporter, locks: contextlib.ExitStack
) -> TrainResult:
    t = cfg["trainer"]
    validate_trainer(t)
    validate_target_layer(cfg["model"])
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    ctx, device = distributed.setup(t.get("device", "auto"))  # under torchrun: this process's rank and GPU
    if not ctx.is_main:
        reporter = SILENT  # distributed: only rank 0 shows progress and writes files
    seed = int(t.get("seed", 0))
    seed_everything(seed)
    if int(t.get("threads", 0)) > 0:
        torch.set_num_threads(int(t["threads"]))
    resume_from = _resume_source(cfg)
    if resume_from is not None:  # a second resume of the same run refuses instead of forking it
        locks.enter_context(resume_lock(Path(resume_from).parent.parent))

    data_cfg, size_note = resolve_image_size(cfg["dataset"], cfg["model"])
    if size_note:
        reporter.note(size_note)
    train_set = build_dataset(data_cfg, "train")
    val_set = build_dataset(data_cfg, "val")
    classes = class_names(train_set)
    skipped: dict[str, str] = {}  # unreadable images, path → reason, each reported once

    def report_skipped(found: Mapping[str, str]) -> None:
        for path, reason in found.items():
            if path not in skipped:
                skipped[path] = reason
                reporter.note(f"skipped unreadable image {path}: {reason}")

    for split_set in (train_set, val_set):  # imagefolder: files whose header could not be read
        report_skipped({f.path: f.reason for f in getattr(split_set, "failures", [])})
    model_cfg = dict(cfg["model"])
    model = build_model(
        model_cfg["arch"],
        model_cfg["head"],
        len(classes),
        **{k: v for k, v in model_cfg.items() if k not in ("arch", "head", "target_layer")},
        target_layer=requested_target_layer(model_cfg),  # "None"/"null" as text: the default, as validated
    )
    if model_cfg.get("init_backbone") and resume_from is None:  # a resumed run has its own weights
        load_backbone(model, model_cfg["init_backbone"])
    frozen = bool(t.get("freeze_backbone", False))
    if frozen:
        freeze_backbone(model)
    channels_last = bool(t.get("channels_last", True)) and device.type != "mps"
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = distributed.wrap(model, device, ctx)  # DDP when distributed; `model` stays the unwrapped module

    bs, epochs = int(t["batch_size"]), int(t["epochs"])
    steps_per_epoch = math.ceil(distributed.shard_size(len(train_set), ctx) / bs)
    lr_found: dict[str, Any] | None = None
    if is_auto_lr(t["lr"]) and resume_from is None:
        found = find_lr(model, net, train_set, t, device, channels_last)
        lr_found = found.record()
        reporter.note(
            f"lr range test ({len(found.lrs)} steps, {found.lrs[0]:.2g} → {found.lrs[-1]:.2g}): "
            f"trainer.lr={found.lr:.3g} (loss lowest at {found.min_loss_lr:.3g}, falling fastest at {found.steepest_lr:.3g})"
        )
    elif is_auto_lr(t["lr"]):  # resumed: the optimizer and schedule come back with the run's chosen lr
        lr_found = dict(read_checkpoint(resume_from).get("metrics", {}).get("lr_find") or {"lr": 1.0})
    t = {**t, "lr": lr_found["lr"]} if lr_found else t
    opt = _optimizer(model, t)
    sched = _scheduler(opt, t, epochs * steps_per_epoch)
    guard = DivergenceGuard.from_config(t, len(classes))
    history: list[dict[str, float]] = []
    start_epoch, start_step, best_acc = 0, 0, -1.0
    partial = {"loss": 0.0, "correct": 0.0, "seen": 0.0}
    if resume_from is not None:
        state = read_checkpoint(resume_from, map_location=device)
        if (state.get("arch"), state.get("head")) != (model_cfg["arch"], model_cfg["head"]):
            raise CheckpointError(
                f"{resume_from}: a {state.get('arch')}/{state.get('head')} run cannot resume "
                f"{model_cfg['arch']}/{model_cfg['head']}"
            )
        # options that change the network but not its tensors (the weights would load into either)
        saved = state.get("model") or {}
        for key, default in (("classifier", "full"), ("output_stride", 32)):
            theirs, ours = saved.get(key, default), model_cfg.get(key, default)
            if str(theirs) != str(ours):
                raise CheckpointError(
                    f"{resume_from}: that run was trained with model.{key}={theirs}, this one asks for "
                    f"model.{key}={ours}; pass model.{key}={theirs} to resume it, or start a new run"
                )
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"].cpu())
        start_epoch, start_step = int(state["position"]["epoch"]), int(state["position"]["step"])
        partial = dict(state["position"].get("partial", partial))
        history = list(state.get("metrics", {}).get("history", []))
        best_acc = float(state.get("metrics", {}).get("best_val_accuracy", -1.0))
        report_skipped(dict(state.get("metrics", {}).get("skipped_images", {})))
        reporter.note(f"resuming {resume_from} at epoch {start_epoch + 1}, step {start_step}")
        best_src = Path(resume_from).parent / "best.pt"
        if best_src.is_file() and ctx.is_main:
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            save_checkpoint(
                ckpt_dir / "best.pt", {k: v for k, v in read_checkpoint(best_src).items() if k != "format"}
            )

    from omegaconf import OmegaConf

    config = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    record = {
        "task": "train",
        "arch": model_cfg["arch"],
        "head": model_cfg["head"],
        "dataset": cfg["dataset"]["name"],
        "num_classes": len(classes),
        "status": "running",
        **this_process(),
        "resumed_from": str(Path(resume_from).resolve()) if resume_from else None,
        "image_size": int(data_cfg["image_size"]),
        "lr": float(t["lr"]),
        "lr_find": lr_found,
    }

    def status(**fields: Any) -> dict[str, Any]:
        """``run.json`` contents: the record, ``fields`` and the images skipped so far."""
        return {**record, **fields, "skipped_images": [{"path": k, "reason": v} for k, v in skipped.items()]}

    if ctx.is_main:
        write_run_record(run_dir, status())

    def payload(epoch: int, step: int, metrics: dict[str, Any], full: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
            "arch": model_cfg["arch"],
            "head": model_cfg["head"],
            "num_classes": len(classes),
            "class_names": classes,
            "model": model_cfg,
            "config": config,
            "metrics": metrics,
            "camx_version": camx.__version__,
            "dataset": cfg["dataset"]["name"],
            "image_size": int(data_cfg["image_size"]),
        }
        if full:
            data.update(
                optimizer=opt.state_dict(),
                scheduler=sched.state_dict(),
                rng={"torch": torch.get_rng_state()},
                position={"epoch": epoch, "step": step, "partial": dict(partial)},
            )
        return data

    # the starting state, written as last.pt if the run diverges before its first checkpoint (held in memory)
    start_state: dict[str, Any] | None = None
    if ctx.is_main:
        start_state = payload(start_epoch, start_step, {"history": list(history), "lr_find": lr_found}, True)
        start_state.update(
            copy.deepcopy({k: start_state[k] for k in ("state_dict", "optimizer", "scheduler")})
        )
    started, images_done = time.perf_counter(), 0
    workers = int(t.get("workers", 0))
    with stop_on_signals() as stop:
        train_mode(model, frozen)
        for epoch in range(start_epoch, epochs):
            if hasattr(train_set, "set_epoch"):
                train_set.set_epoch(epoch)
            order = distributed.shard(_epoch_order(len(train_set), seed, epoch), ctx)
            first = start_step if epoch == start_epoch else 0
            if first == 0:
                partial = {"loss": 0.0, "correct": 0.0, "seen": 0.0}
            loader = DataLoader(
                train_set,
                batch_size=bs,
                sampler=order[first * bs :],
                num_workers=workers,
                multiprocessing_context=worker_context() if workers else None,
                drop_last=False,
                generator=_loader_generator(seed, epoch),
                worker_init_fn=ignore_stop_signals if workers else None,
            )
            side = epoch_size(t, epoch)
            reporter.begin(
                f"epoch {epoch + 1}/{epochs}" + (f" at {side} px" if side else ""), steps_per_epoch
            )
            if first:
                reporter.advance(first)
            tick = time.perf_counter()
            with signals_blocked():  # workers start with SIGINT/SIGTERM blocked, then ignore them
                batches = iter(loader)
            for step, batch in enumerate(batches, start=first):
                report_skipped(unreadable(batch))
                inputs = batch_inputs(batch, device, side, channels_last)
                if inputs is None:  # imagefolder: every file of the batch unreadable
                    sched.step()
                    continue
                x, y = inputs
                logits = net(x)
                loss = nn.functional.cross_entropy(logits, y)
                reason = guard.update(float(loss.detach()))
                if distributed.any_flag(reason is not None, ctx):  # every process stops at the same step
                    if ctx.is_main:
                        if start_state is not None:  # no checkpoint of this run yet: its starting state
                            save_checkpoint(ckpt_dir / "last.pt", start_state)
                        write_run_record(
                            run_dir,
                            status(status="diverged", epoch=epoch, step=step + 1, reason=reason,
                                   best_val_accuracy=best_acc),
                        )  # fmt: skip
                    reporter.end()
                    raise Diverged(diverged_message(reason, epoch, step, t, ckpt_dir, history))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                n = len(y)
                partial["loss"] += float(loss.detach()) * n
                partial["correct"] += float((logits.argmax(1) == y).sum())
                partial["seen"] += n
                images_done += n
                rate = images_done / max(time.perf_counter() - started, 1e-9)
                reporter.advance(
                    1,
                    loss=partial["loss"] / partial["seen"],
                    acc=partial["correct"] / partial["seen"],
                    ips=rate,
                )
                if distributed.any_flag(stop.is_set(), ctx):  # every process stops at the same step
                    metrics = {
                        "history": history,
                        "best_val_accuracy": best_acc,
                        "skipped_images": dict(skipped),
                        "lr_find": lr_found,
                    }
                    if ctx.is_main:
                        save_checkpoint(ckpt_dir / "last.pt", payload(epoch, step + 1, metrics, True))
                        write_run_record(run_dir, status(status="interrupted", epoch=epoch))
                        if resume_from is not None:
                            _mark_resumed(resume_from, run_dir)
                    reporter.end()
                    raise Interrupted(ckpt_dir / "last.pt", stop.signum)  # type: ignore[attr-defined]
            reporter.end()
            found: dict[str, str] = {}
            val_acc, val_conf = evaluate_accuracy(
                model, val_set, device, int(t.get("eval_batch_size", 128)), channels_last, found
            )
            report_skipped(found)
            train_mode(model, frozen)
            history.append(
                {
                    "epoch": epoch + 1,
                    "train_loss": partial["loss"] / max(partial["seen"], 1),
                    "train_accuracy": partial["correct"] / max(partial["seen"], 1),
                    "val_accuracy": val_acc,
                    "val_confidence": val_conf,
                    "seconds": time.perf_counter() - tick,
                    "lr": sched.get_last_lr()[0],
                }
            )
            reporter.note(
                f"epoch {epoch + 1}/{epochs}: loss {history[-1]['train_loss']:.3f}, "
                f"train acc {history[-1]['train_accuracy']:.3f}, val acc {val_acc:.3f}, val conf {val_conf:.3f}"
            )
            improved = val_acc > best_acc
            best_acc = max(best_acc, val_acc)
            metrics = {
                "history": history,
                "best_val_accuracy": best_acc,
                "val_accuracy": val_acc,
                "skipped_images": dict(skipped),
                "lr_find": lr_found,
            }
            if ctx.is_main:
                if improved:
                    save_checkpoint(ckpt_dir / "best.pt", payload(epoch + 1, 0, metrics, False))
                save_checkpoint(ckpt_dir / "last.pt", payload(epoch + 1, 0, metrics, True))
                start_state = None
                write_run_record(run_dir, status(epoch=epoch + 1, best_val_accuracy=best_acc))
                if resume_from is not None:  # this run now holds its own resumable state
                    _mark_resumed(resume_from, run_dir)
    seconds = time.perf_counter() - started
    if ctx.is_main:
        write_run_record(
            run_dir, status(status="finished", epoch=epochs, best_val_accuracy=best_acc, seconds=seconds)
        )
    distributed.finish(
        ctx, run_dir
    )  # distributed: wait for every process; drop the other ranks' empty run dirs
    if skipped:
        reporter.note(
            f"{len(skipped)} unreadable image(s) were skipped (listed under skipped_images in "
            f"{run_dir / 'run.json'})"
        )
    return TrainResult(
        run_dir,
        ckpt_dir / "best.pt",
        ckpt_dir / "last.pt",
        best_acc,
        history,
        images_done / max(seconds, 1e-9),
        seconds,
        dict(skipped),
    )
