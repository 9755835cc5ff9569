"""Short names of a sweep's jobs, from the overrides that differ between them: ``image_size=96 · cam=gradcam``
in ``camx report``'s tables and figures, ``job 1 (image_size=128)`` in a sweep's ``--fail-under`` and
refusal lines. Torch-free, so the CLI can name a job before anything is imported or run."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

_HIDDEN = ("hydra.", "outputs_dir")  #: overrides that never name a job
K = TypeVar("K", bound=Hashable)


def job_overrides(job_dir: Path) -> list[str]:
    """The overrides Hydra recorded for a job (``.hydra/overrides.yaml``); none when the file is missing."""
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    from omegaconf import OmegaConf

    return [str(o) for o in OmegaConf.load(path)]


def job_labels(overrides: Mapping[K, Sequence[str]]) -> dict[K, str]:
    """Short names of a sweep's jobs: only the overrides that differ between them, each key shortened
    to its last part unless two differing keys share it (``image_size=96 · cam=gradcam``); ``""`` for
    every job when none differs (hydra.* and outputs_dir overrides are never shown)."""
    parsed = {
        job: dict(o.lstrip("+~").partition("=")[::2] for o in ovs if not o.lstrip("+~").startswith(_HIDDEN))
        for job, ovs in overrides.items()
    }
    keys = list(dict.fromkeys(k for kv in parsed.values() for k in kv))
    differ = [k for k in keys if len({kv.get(k) for kv in parsed.values()}) > 1]
    last = [k.rsplit(".", 1)[-1] for k in differ]
    short = {k: s if last.count(s) == 1 else k for k, s in zip(differ, last)}
    return {
        job: " · ".join(f"{short[k]}={kv[k]}" if k in kv else f"~{short[k]}" for k in differ)
        for job, kv in parsed.items()
    }


def job_name(number: object, label: str) -> str:
    """``job 1 (image_size=128)``; ``job 1`` when no override differs."""
    return f"job {number}" + (f" ({label})" if label else "")


def job_names(job_dirs: Sequence[Path]) -> dict[Path, str]:
    """Each sweep job dir as :func:`job_name`: its folder (the job number) and its :func:`job_labels`."""
    labels = job_labels({job: job_overrides(job) for job in job_dirs})
    return {job: job_name(job.name, label) for job, label in labels.items()}
