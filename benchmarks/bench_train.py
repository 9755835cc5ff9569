"""Training and evaluation throughput: camx's trainer against a bare PyTorch loop, and ``camx eval``.

Training: the model, data, batch size and optimizer of a composed ``camx train`` config (by default
``experiment=quick``, what ``make demo`` trains). camx runs its real :func:`camx.jobs.train.train`
(a Reporter records when each step ends); the bare loop is the textbook one — DataLoader over the
same dataset with the same workers, normalise, forward, cross-entropy, ``zero_grad``, backward,
``step`` — with the same optimizer settings. Both are timed from the end of the warm-up steps to
the end of the last step, data loading included.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from bench_common import failed, skipped, sync
from torch.utils.data import DataLoader

from camx.jobs.progress import Reporter


class StepClock(Reporter):
    """Records the time at which each training step ends (``advance`` with live fields)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def advance(self, steps: int = 1, **fields: Any) -> None:
        if fields:
            self.times.append(time.perf_counter())


def compose(task: str, overrides: list[str]) -> Any:
    from camx.cli.hydra_bridge import compose as hydra_compose

    return hydra_compose(task, overrides)


def train_config(
    base: list[str], *, warmup: int, steps: int, device: str, extra: list[str] | None = None
) -> Any:
    """The composed train config, sized so that one epoch is exactly ``warmup + steps`` full batches."""
    cfg = compose("train", base)
    bs = int(cfg.trainer.batch_size)
    return compose(
        "train",
        [
            *base,
            f"dataset.train_size={(warmup + steps) * bs}",
            f"dataset.val_size={bs}",
            "trainer.epochs=1",
            f"trainer.device={device}",
            *(extra or []),
        ],
    )


def _rate(times: list[float], warmup: int, steps: int, batch: int) -> float:
    return batch * steps / (times[warmup + steps - 1] - times[warmup - 1])


def camx_rate(cfg: Any, *, warmup: int, steps: int) -> dict[str, Any]:
    from camx.jobs.train import train

    clock = StepClock()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            train(cfg, Path(tmp) / "run", clock)
    except Exception as exc:
        return failed(exc)
    bs = int(cfg.trainer.batch_size)
    return {"status": "ok", "images_per_second": _rate(clock.times, warmup, steps, bs), "steps": steps}


def _optimizer(model: torch.nn.Module, t: Any) -> torch.optim.Optimizer:
    """The bare loop's optimizer for the trainer config: AdamW, else SGD with Nesterov momentum."""
    if t.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=float(t.lr), weight_decay=float(t.weight_decay))
    return torch.optim.SGD(
        model.parameters(),
        lr=float(t.lr),
        momentum=float(t.momentum),
        weight_decay=float(t.weight_decay),
        nesterov=True,
    )


def bare_rate(
    cfg: Any, *, channels_last: bool, amp: bool, compiled: bool, warmup: int, steps: int
) -> dict[str, Any]:
    """images/s of the bare loop with ``cfg``'s model, data, batch and optimizer."""
    from camx.data.datasets import build_dataset, class_names
    from camx.models import build_model
    from camx.runtime import select_device

    t, m = cfg.trainer, dict(cfg.model)
    device = select_device(str(t.device))
    torch.manual_seed(int(t.seed))
    data = build_dataset(cfg.dataset, "train")
    model = build_model(m.pop("arch"), m.pop("head"), len(class_names(data)), **m).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    opt = _optimizer(model, t)
    net = torch.compile(model) if compiled else model
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)
    bs, workers = int(t.batch_size), int(t.workers)
    loader = DataLoader(
        data,
        batch_size=bs,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        generator=torch.Generator().manual_seed(0),
    )
    times: list[float] = []
    first_step = None
    try:
        start = time.perf_counter()
        for batch in loader:
            x = (batch["image"].to(device, non_blocking=True) - mean) / std
            y = batch["label"].to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            autocast = torch.autocast(device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
            with autocast:
                loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sync(device)
            times.append(time.perf_counter())
            if first_step is None:
                first_step = times[-1] - start
    except Exception as exc:
        return failed(exc)
    row = {
        "status": "ok",
        "images_per_second": _rate(times, warmup, steps, bs),
        "steps": steps,
        "first_step_seconds": first_step,
    }
    return row


#: (name, runner, channels_last, bf16 autocast, torch.compile)
VARIANTS = [
    ("bare loop", "bare", False, False, False),
    ("bare loop + channels_last", "bare", True, False, False),
    ("bare loop + channels_last + bf16 autocast", "bare", True, True, False),
    ("bare loop + channels_last + torch.compile", "bare", True, False, True),
    ("camx train, trainer.channels_last=false", "camx", False, False, False),
    ("camx train (default: channels_last=true)", "camx", True, False, False),
]


def training(
    base: list[str], *, warmup: int, steps: int, device: str, compile_ok: bool, reporter: Any = None
) -> dict[str, Any]:
    """Every variant of :data:`VARIANTS` on the same config; images/s (steady state, data loading included)."""
    cfg = train_config(base, warmup=warmup, steps=steps, device=device)
    t, d = cfg.trainer, cfg.dataset
    out: dict[str, Any] = {
        "config": " ".join(base),
        "model": f"{cfg.model.arch}/{cfg.model.head} (output_stride {cfg.model.output_stride})",
        "image_size": int(d.image_size),
        "batch_size": int(t.batch_size),
        "optimizer": str(t.optimizer),
        "workers": int(t.workers),
        "warmup_steps": warmup,
        "timed_steps": steps,
        "device": device,
        "camx_defaults": {
            "channels_last": bool(t.get("channels_last", True)),
            "bf16_autocast": False,
            "torch_compile": False,
        },
        "rows": [],
    }
    for name, runner, channels_last, amp, compiled in VARIANTS:
        if reporter:
            reporter(f"training: {name}")
        if compiled and not compile_ok:
            row = skipped("--quick (compilation takes minutes)")
        elif runner == "camx":
            row = camx_rate(
                train_config(
                    base,
                    warmup=warmup,
                    steps=steps,
                    device=device,
                    extra=[f"trainer.channels_last={str(channels_last).lower()}"],
                ),
                warmup=warmup,
                steps=steps,
            )
        else:
            row = bare_rate(
                cfg, channels_last=channels_last, amp=amp, compiled=compiled, warmup=warmup, steps=steps
            )
        out["rows"].append(
            {
                "name": name,
                "runner": runner,
                "channels_last": channels_last,
                "bf16_autocast": amp,
                "torch_compile": compiled,
                **row,
            }
        )
    return out


def random_checkpoint(cfg: Any, folder: Path) -> Path:
    """A camx checkpoint of ``cfg``'s model with seeded random weights (throughput does not depend on them)."""
    from camx.checkpoint import save_checkpoint
    from camx.models import build_model
    from camx.options.dataset import CLASS_NAMES

    m = dict(cfg.model)
    classes = list(CLASS_NAMES[: int(cfg.dataset.num_classes)])
    torch.manual_seed(0)
    model = build_model(
        m["arch"], m["head"], len(classes), **{k: v for k, v in m.items() if k not in ("arch", "head")}
    )
    path = folder / "checkpoints" / "best.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        path,
        {
            "state_dict": model.state_dict(),
            "arch": m["arch"],
            "head": m["head"],
            "num_classes": len(classes),
            "class_names": classes,
            "model": m,
            "dataset": "shapes",
            "image_size": int(cfg.dataset.image_size),
        },
    )
    return path


EVAL_VARIANTS = [
    ("predictions only (map_metrics=false)", ["map_metrics=false"]),
    ("gradcam + map metrics", ["methods=[gradcam]", "baselines=[]"]),
]


def evaluation(base: list[str], *, images: int, device: str, reporter: Any = None) -> dict[str, Any]:
    """``camx eval`` (the library job, figures off) with ``perturb=noise_sweep``: (images × conditions) / s."""
    from camx.cli.hydra_bridge import quote

    from camx.jobs.evaluate import conditions, evaluate

    out: dict[str, Any] = {
        "config": " ".join([*base, "perturb=noise_sweep"]),
        "images": images,
        "device": device,
        "rows": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = random_checkpoint(compose("eval", base), Path(tmp) / "model")
        for name, extra in EVAL_VARIANTS:
            if reporter:
                reporter(f"eval: {name}")
            cfg = compose(
                "eval",
                [
                    *base,
                    "perturb=noise_sweep",
                    f"checkpoints=[{quote(str(ckpt))}]",
                    f"max_images={images}",
                    "figures=false",
                    f"trainer.device={device}",
                    *extra,
                ],
            )
            n_cond = len(conditions(cfg))
            try:
                result = evaluate(cfg, Path(tmp) / name.split()[0])
            except Exception as exc:
                out["rows"].append({"name": name, **failed(exc)})
                continue
            out["rows"].append(
                {
                    "name": name,
                    "status": "ok",
                    "conditions": n_cond,
                    "seconds": result.seconds,
                    "batch_size": int(cfg.batch_size),
                    "throughput": images * n_cond / result.seconds,
                }
            )
    return out
