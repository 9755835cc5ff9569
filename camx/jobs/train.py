"""``camx train``: fit a model on a dataset's train split, validate each epoch, checkpoint atomically.

Checkpoints go to ``<run_dir>/checkpoints/``: ``best.pt`` (highest validation accuracy) and
``last.pt`` (everything needed to resume: optimizer, scheduler, RNG state and the position inside
the epoch; see :func:`camx.checkpoint.training_state`). SIGINT/SIGTERM stop training at the next step,
write ``last.pt`` at that exact position and raise :class:`Interrupted`; ``trainer.resume=true`` then
continues to the same weights an uninterrupted run reaches (on CPU, same seed): sample order,
dropout/DropKey draws and the schedule are all restored (:mod:`camx.jobs.resume`). Every DataLoader
gets its own seeded generator (:mod:`camx.jobs.train_data`).

The job, step by step (:func:`_train`): build the run (:func:`_build_run`: process, data, network,
learning rate, optimizer) → resume or start (:func:`_resume_or_start`) → per epoch fit it
(:func:`_fit_epoch`), validate (:func:`_validate`) and save
(:meth:`~camx.jobs.train_run.TrainingRun.save_epoch`) → finish.

With ``dataset=imagefolder`` unreadable files never stop training: files whose header cannot be
read are dropped when the dataset is built, files that fail to decode are skipped batch by batch;
each is reported once through ``Reporter.note`` and listed under ``skipped_images`` in ``run.json``.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from camx import distributed
from camx.checkpoint import (
    load_backbone,
    read_checkpoint,
    restore_training_state,
    save_checkpoint,
)
from camx.data.augment import augment_batch
from camx.data.datasets import build_dataset, class_names, resolve_image_size
from camx.data.unreadable import SkipLog
from camx.errors import CamxError
from camx.jobs.guard import Diverged, DivergenceGuard
from camx.jobs.optim import build_optimizer, build_scheduler, find_lr, freeze_backbone, train_mode
from camx.jobs.progress import SILENT, Reporter
from camx.jobs.resume import check_resumable, resume_source
from camx.jobs.signals import (
    Interrupted,
    ignore_stop_signals,
    signals_blocked,
    stop_on_signals,
    worker_context,
)
from camx.jobs.train_data import batch_inputs, epoch_order, epoch_size, evaluate_accuracy, loader_generator
from camx.jobs.train_run import TrainingRun, fresh_sums, plain_config
from camx.models import build_model
from camx.models.target_layer import validate_target_layer
from camx.options.model import requested_target_layer
from camx.options.trainer import is_auto_lr, validate_trainer
from camx.recovery import record_failure, recover_stale, resume_lock, this_process
from camx.runs import write_run_record
from camx.runtime import seed_everything


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


def train(cfg: Mapping[str, Any], run_dir: str | Path, reporter: Reporter = SILENT) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.dataset`` with ``cfg.trainer``; write checkpoints and ``run.json`` into ``run_dir``.

    First the runs under ``outputs_dir`` left by killed processes are tidied
    (:func:`camx.recovery.recover_stale`). A run that continues another (``trainer.resume``) holds
    that run's lock while it trains (:func:`camx.recovery.resume_lock`). A failure after ``run.json``
    was written records ``"status": "failed"`` and the reason there before it is raised.
    """
    recover_stale(cfg["outputs_dir"])
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
    """Build the run → resume or start → per epoch: fit, validate, save → finish."""
    run = _build_run(cfg, run_dir, reporter, locks)
    with stop_on_signals() as stop:  # once run.json says "running", a signal stops the run at the next step
        _resume_or_start(run)
        run.started, run.images_done = time.perf_counter(), 0
        train_mode(run.model, run.frozen)
        for epoch in range(run.start_epoch, run.epochs):
            tick = time.perf_counter()
            _fit_epoch(run, epoch, stop)
            improved = _validate(run, epoch, tick)
            run.save_epoch(epoch, improved)
    return _finish(run)


# --- build the run -----------------------------------------------------------------------------------


def _build_run(
    cfg: Mapping[str, Any], run_dir: Path, reporter: Reporter, locks: contextlib.ExitStack
) -> TrainingRun:
    """Check the config, set up the process, then build data, network, learning rate and optimizer."""
    t = cfg["trainer"]
    validate_trainer(t)
    validate_target_layer(cfg["model"])
    ctx, device = distributed.setup(t["device"])  # under torchrun: this process's rank and GPU
    if not ctx.is_main:
        reporter = SILENT  # distributed: only rank 0 shows progress and writes files
    seed_everything(int(t["seed"]))
    if int(t["threads"]) > 0:
        torch.set_num_threads(int(t["threads"]))
    resume_from = resume_source(cfg)
    if resume_from is not None:  # a second resume of the same run refuses instead of forking it
        locks.enter_context(resume_lock(Path(resume_from).parent.parent))
    run = TrainingRun(cfg, t, Path(run_dir), ctx, device, reporter, resume_from, config=plain_config(cfg))
    _load_data(run)
    _build_network(run)
    _choose_lr(run)
    run.opt = build_optimizer(run.model, run.t)
    run.sched = build_scheduler(run.opt, run.t, run.epochs * run.steps_per_epoch)
    run.guard = DivergenceGuard.from_config(run.t, len(run.classes))
    return run


def _load_data(run: TrainingRun) -> None:
    """The train and val splits (image side chosen for ``image_size=auto``) and their class names."""
    run.data_cfg, size_note = resolve_image_size(run.cfg["dataset"], run.cfg["model"])
    if size_note:
        run.reporter.note(size_note)
    run.train_set = build_dataset(run.data_cfg, "train")
    run.val_set = build_dataset(run.data_cfg, "val")
    run.classes = class_names(run.train_set)
    run.log = SkipLog(run.reporter.note)
    run.log.add_failures([run.train_set, run.val_set])  # imagefolder: files whose header could not be read


def _build_network(run: TrainingRun) -> None:
    """The model (backbone from ``model.init_backbone``, maybe frozen) on the device, and ``net`` around it."""
    model_cfg = dict(run.cfg["model"])
    model = build_model(
        model_cfg["arch"],
        model_cfg["head"],
        len(run.classes),
        **{k: v for k, v in model_cfg.items() if k not in ("arch", "head", "target_layer")},
        target_layer=requested_target_layer(model_cfg),  # "None"/"null" as text: the default, as validated
    )
    if model_cfg["init_backbone"] and run.resume_from is None:  # a resumed run has its own weights
        load_backbone(model, model_cfg["init_backbone"])
    if run.frozen:
        freeze_backbone(model)
    run.channels_last = bool(run.t["channels_last"]) and run.device.type != "mps"
    model = model.to(run.device)
    if run.channels_last:
        model = model.to(memory_format=torch.channels_last)
    run.model = model
    run.net = distributed.wrap(model, run.device, run.ctx)  # DDP when distributed


def _choose_lr(run: TrainingRun) -> None:
    """``trainer.lr=auto``: the range test picks it (a resumed run keeps the one it chose)."""
    if not is_auto_lr(run.t["lr"]):
        return
    if run.resume_from is None:
        found = find_lr(run.model, run.net, run.train_set, run.t, run.device, run.channels_last)
        run.lr_found = found.record()
        run.reporter.note(
            f"lr range test ({len(found.lrs)} steps, {found.lrs[0]:.2g} → {found.lrs[-1]:.2g}): "
            f"trainer.lr={found.lr:.3g} (loss lowest at {found.min_loss_lr:.3g}, falling fastest at {found.steepest_lr:.3g})"
        )
    else:  # resumed: the optimizer and schedule come back with the run's chosen lr
        saved = read_checkpoint(run.resume_from).get("metrics", {}).get("lr_find")
        run.lr_found = dict(saved or {"lr": 1.0})
    run.t = {**run.t, "lr": run.lr_found["lr"]}


# --- resume or start ---------------------------------------------------------------------------------


def _resume_or_start(run: TrainingRun) -> None:
    """Restore the state of the run this one continues (if any); write ``run.json``; keep the start state."""
    if run.resume_from is not None:
        _resume(run)
    model_cfg = run.cfg["model"]
    run.record = {
        "task": "train",
        "arch": model_cfg["arch"],
        "head": model_cfg["head"],
        "dataset": run.cfg["dataset"]["name"],
        "num_classes": len(run.classes),
        "status": "running",
        **this_process(),
        "resumed_from": str(Path(run.resume_from).resolve()) if run.resume_from else None,
        "image_size": int(run.data_cfg["image_size"]),
        "lr": float(run.t["lr"]),
        "lr_find": run.lr_found,
    }
    if not run.ctx.is_main:
        return
    write_run_record(run.run_dir, run.status())
    # the starting state, written as last.pt if the run diverges before its first checkpoint
    state = run.payload(
        run.start_epoch, run.start_step, {"history": list(run.history), "lr_find": run.lr_found}, True
    )
    state.update(copy.deepcopy({k: state[k] for k in ("state_dict", "optimizer", "scheduler")}))
    run.start_state = state


def _resume(run: TrainingRun) -> None:
    """Load ``last.pt`` of the run this one continues: weights, optimizer, schedule, RNG, position, history."""
    source = run.resume_from
    state = read_checkpoint(source, map_location=run.device)
    check_resumable(state, source, run.cfg["model"])
    restore_training_state(state, run.model, run.opt, run.sched)
    run.start_epoch, run.start_step = int(state["position"]["epoch"]), int(state["position"]["step"])
    run.partial = dict(state["position"].get("partial", run.partial))
    metrics = state.get("metrics", {})
    run.history = list(metrics.get("history", []))
    run.best_acc = float(metrics.get("best_val_accuracy", -1.0))
    run.log.add(dict(metrics.get("skipped_images", {})))
    run.reporter.note(f"resuming {source} at epoch {run.start_epoch + 1}, step {run.start_step}")
    best_src = Path(source).parent / "best.pt"
    if best_src.is_file() and run.ctx.is_main:
        run.ckpt_dir.mkdir(parents=True, exist_ok=True)
        best = {k: v for k, v in read_checkpoint(best_src).items() if k != "format"}
        save_checkpoint(run.ckpt_dir / "best.pt", best)


# --- fit an epoch ------------------------------------------------------------------------------------


def _fit_epoch(run: TrainingRun, epoch: int, stop: Any) -> None:
    """One pass over the epoch's share of the training set, from the saved step when resuming.

    Stops the run with :class:`Diverged` (the guard) or :class:`Interrupted` (a signal set ``stop``).
    """
    if hasattr(run.train_set, "set_epoch"):
        run.train_set.set_epoch(epoch)
    first = run.start_step if epoch == run.start_epoch else 0
    if first == 0:
        run.partial = fresh_sums()
    side = epoch_size(run.t, epoch)
    title = f"epoch {epoch + 1}/{run.epochs}" + (f" at {side} px" if side else "")
    run.reporter.begin(title, run.steps_per_epoch)
    if first:
        run.reporter.advance(first)
    for step, batch in enumerate(_epoch_batches(run, epoch, first), start=first):
        inputs = batch_inputs(
            augment_batch(batch, run.t, epoch, step), run.device, side, run.channels_last, run.log
        )
        if inputs is None:  # imagefolder: every file of the batch unreadable
            run.sched.step()
            continue
        _step(run, epoch, step, *inputs)
        if distributed.any_flag(stop.is_set(), run.ctx):  # every process stops at the same step
            run.interrupt(epoch, step, stop.signum)
    run.reporter.end()


def _epoch_batches(run: TrainingRun, epoch: int, first: int) -> Any:
    """The batches of ``epoch`` from step ``first`` on, in the epoch's seeded order (this process's shard)."""
    bs, workers, seed = int(run.t["batch_size"]), int(run.t["workers"]), int(run.t["seed"])
    order = distributed.shard(epoch_order(len(run.train_set), seed, epoch), run.ctx)
    loader = DataLoader(
        run.train_set,
        batch_size=bs,
        sampler=order[first * bs :],
        num_workers=workers,
        multiprocessing_context=worker_context() if workers else None,
        drop_last=False,
        generator=loader_generator(seed, epoch),
        worker_init_fn=ignore_stop_signals if workers else None,
    )
    with signals_blocked():  # workers start with SIGINT/SIGTERM blocked, then ignore them
        return iter(loader)


def _step(run: TrainingRun, epoch: int, step: int, x: torch.Tensor, y: torch.Tensor) -> None:
    """One optimisation step on (``x``, ``y``), after the divergence guard has seen its loss."""
    logits = run.net(x)
    loss = nn.functional.cross_entropy(logits, y)
    reason = run.guard.update(float(loss.detach()))
    if distributed.any_flag(reason is not None, run.ctx):  # every process stops at the same step
        run.diverge(epoch, step, reason)
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    run.opt.step()
    run.sched.step()
    n, p = len(y), run.partial
    p["loss"] += float(loss.detach()) * n
    p["correct"] += float((logits.argmax(1) == y).sum())
    p["seen"] += n
    run.images_done += n
    rate = run.images_done / max(time.perf_counter() - run.started, 1e-9)
    run.reporter.advance(1, loss=p["loss"] / p["seen"], acc=p["correct"] / p["seen"], ips=rate)


# --- validate -------------------------------------------------------------------------------


def _validate(run: TrainingRun, epoch: int, tick: float) -> bool:
    """Validation accuracy and confidence of the epoch into the history; whether it is the best so far."""
    val_acc, val_conf = evaluate_accuracy(
        run.model, run.val_set, run.device, int(run.t["eval_batch_size"]), run.channels_last, run.log
    )
    train_mode(run.model, run.frozen)
    p = run.partial
    run.history.append(
        {
            "epoch": epoch + 1,
            "train_loss": p["loss"] / max(p["seen"], 1),
            "train_accuracy": p["correct"] / max(p["seen"], 1),
            "val_accuracy": val_acc,
            "val_confidence": val_conf,
            "seconds": time.perf_counter() - tick,
            "lr": run.sched.get_last_lr()[0],
        }
    )
    h = run.history[-1]
    run.reporter.note(
        f"epoch {epoch + 1}/{run.epochs}: loss {h['train_loss']:.3f}, "
        f"train acc {h['train_accuracy']:.3f}, val acc {val_acc:.3f}, val conf {val_conf:.3f}"
    )
    improved = val_acc > run.best_acc
    run.best_acc = max(run.best_acc, val_acc)
    return improved


def _finish(run: TrainingRun) -> TrainResult:
    """``run.json`` says finished; wait for the other processes; the result."""
    seconds = time.perf_counter() - run.started
    if run.ctx.is_main:
        fields = {"epoch": run.epochs, "best_val_accuracy": run.best_acc, "seconds": seconds}
        write_run_record(run.run_dir, run.status(status="finished", **fields))
    distributed.finish(run.ctx, run.run_dir)  # distributed: drop the other ranks' empty run dirs
    skipped = dict(run.log.items)
    if skipped:
        run.reporter.note(
            f"{len(skipped)} unreadable image(s) were skipped (listed under skipped_images in "
            f"{run.run_dir / 'run.json'})"
        )
    rate = run.images_done / max(seconds, 1e-9)
    return TrainResult(
        run.run_dir,
        run.ckpt_dir / "best.pt",
        run.ckpt_dir / "last.pt",
        run.best_acc,
        run.history,
        rate,
        seconds,
        skipped,
    )


__all__ = [
    "Diverged",
    "Interrupted",
    "TrainResult",
    "build_model",
    "epoch_size",
    "evaluate_accuracy",
    "freeze_backbone",
    "train",
    "validate_target_layer",
]
