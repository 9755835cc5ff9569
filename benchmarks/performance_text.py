"""The prose of ``docs/PERFORMANCE.md`` around its generated tables: how to regenerate the page and
how every number on it is measured (:func:`bench_report.render_markdown` places it)."""

INTRO = """\
# Performance

How fast camx explains, trains and evaluates, side by side with
[pytorch-grad-cam](https://github.com/jacobgil/pytorch-grad-cam) and
[TorchCAM](https://github.com/frgfm/torch-cam) on the same model and input.

**This page is generated** by `benchmarks/run.py` from a results file under `benchmarks/results/`:
do not edit it by hand. To regenerate it, on a machine that is otherwise idle:

```bash
make bench                                   # = .venv/bin/python benchmarks/run.py (CPU, and GPU when present)
.venv/bin/python benchmarks/run.py --full    # also batch-16 exact Score-CAM, more repeats and images
.venv/bin/python benchmarks/run.py --quick   # a smoke run: batch 1, few repeats, no peer Score-CAM (does not touch this page)
.venv/bin/python benchmarks/run.py --render benchmarks/results/<file>.json   # re-render this page only
```
"""

METHOD = """\
## How it is measured

- **Model and input.** camx's ResNet50 (torchvision layers, plain head, output stride 32, 1000
  classes) with seeded random weights (no pretrained weights offline), explained at `layer4`; inputs
  are images of camx's embedded `shapes` test split at 224 px, normalised. The same module object and
  tensor go to every library, each explaining the predicted class (each library's default).
- **CAM timings** are the median wall time of one call (after one warm-up call) that returns maps
  at the input size: camx `explain(...)`; pytorch-grad-cam `CAM(input_tensor=x)` with the extractor
  built beforehand; TorchCAM `model(x)` + `extractor(class_idx, scores)` + bilinear upsampling.
  *camx/pgc* and *camx/TorchCAM* below 1 mean camx is faster; *camx/bare* is camx's time over a
  plain `model(x)` under `torch.inference_mode()` on the same batch. The gradient-family target
  times camx and a bare forward alternately, call by call (15 pairs by default), and takes the
  median of the per-pair ratios (`bare_ratio` in the JSON; `bare_adjacent` is the bare median), so a
  burst of load on a shared machine hits both sides of a ratio. Results files from before
  2026-11-23 hold a bare forward timed after all of camx's calls instead. camx's gradient pass runs the layers
  before the target layer under `torch.inference_mode()` and records autograd history only from the
  target layer on (`camx/cam/hooks.py`, `Probe.run`), so its cost over the bare forward is the head's
  backward and the map. Exact Score-CAM runs once per library (it takes minutes on a CPU). Peers run
  with their default batch sizes.
- **Score-CAM agreement.** The peers define Score-CAM's weights as a softmax over *channels* of the
  raw target logit; the paper (and camx) use the class probability of each masked input. On
  `LogSoftmax(model)` the two coincide up to a per-image factor that cancels in ReLU + min–max, so
  the peers run on that wrapper; their channel weights are captured during the timed call and their
  feature-resolution map compared with camx's. The libraries also build the masks differently
  (pytorch-grad-cam upsamples with `align_corners=True`, TorchCAM normalises before upsampling,
  camx after), so tiny differences remain at ResNet50's 7 → 224 upsampling; they grow on a trained
  model whose masked inputs saturate the softmax (the peers' softmax of log-probabilities loses
  float32 precision there). camx's masked forward passes use a BatchNorm-folded channels-last copy
  of the model (`camx/cam/inference.py`), chunks sized to the input and one forward per distinct
  mask; at batch 1 the run also computes the paper's definition plainly (every channel
  forwarded through the model as given, `reference_scorecam` in `benchmarks/bench_scorecam_ref.py`), and the
  "same map" half of the exact Score-CAM target is camx's largest difference from that reference —
  the peers' differences above are differences of definition.
- **The trained ResNet50** is the newest checkpoint under `outputs/` trained at 224 px
  (`make bench-model`: the demo's plain ResNet50 fine-tuned one epoch at 224 px), else the demo's
  (trained at 48 px). The target row also says how many masked images camx forwarded (the peers forward
  one per channel; camx one per distinct mask) and the measured milliseconds per masked image of camx's
  inference copy and of the model as given at the peers' batch sizes (`masked_forward_costs` in
  `benchmarks/bench_scorecam_ref.py`): their product is the speed-up any exact implementation running the same
  network can expect. A trained network's target-layer channels are nearly all distinct, so the
  forwards are the same and the per-image cost decides.
- **Grad++ScoreCAM trade-off.** For each `top_k`, seconds per image (batch 1) and the Pearson
  correlation of its input-resolution map with exact Score-CAM's, on the newest trained camx
  ResNet50 checkpoint under `outputs/` (e.g. from `make demo`) at its own image size when there is
  one, else on the random ResNet50 at 224 px — the table says which.
- **Training** runs camx's real trainer (`camx.jobs.train.train`) and a bare PyTorch loop with the
  same model, data (same DataLoader workers), batch size and optimizer, timed over the same number
  of steps after warm-up, data loading included. The bare loop is also run with
  `channels_last`, bf16 autocast and `torch.compile`; the note under the table says which of these
  camx enables by default.
- **Evaluation** runs the library job behind `camx eval` (`perturb=noise_sweep`, figures off) on a
  random-weight checkpoint of the `experiment=quick` model: images × perturbation conditions per second.
- **Evaluation against the peers** (`benchmarks/bench_eval.py`, also `docs/results/eval_throughput.md`)
  runs one `camx eval` grid — real photos (crops of scikit-image's) on EfficientNet-Lite0 with its
  shipped ImageNet weights, six gradient/activation methods, clean + three noise levels, AD/IC and
  deletion/insertion (black substrate, 16 steps) — and the same grid as a user of pytorch-grad-cam
  (maps, AD/IC) and TorchCAM (`DeletionInsertionMetric`) writes it, on the noisy images camx's own
  perturbation code makes. The table gives both rates and the largest difference per metric; AD/IC agree
  to float rounding, while deletion/insertion differ by the order in which tied map values (the
  plateaus of a bilinearly upsampled map) are removed, since the two libraries' maps agree only to
  ~1e-6. On the very same maps, camx's deletion/insertion and TorchCAM's agree to ~1e-8.
  Where camx's eval saves work (same numbers up to float rounding; tests in
  `tests/test_metrics_faithfulness_shortcuts.py`): the metrics' forwards go through the BatchNorm-folded
  channels-last inference copy of the checkpoint (maps still come from the model as given), in chunks of
  `cam.chunk_size` (`auto`: 16 images at 128 px, 5 at 224 px; larger chunks spill the CPU caches); of a
  deletion/insertion curve only the 2·(S − 1) interior steps are forwarded per map — p_c(x) is the
  prediction's, the all-black image is forwarded once for every image, and the insertion canvas once per
  image for every method; the interior copies and AD/IC's masked copies of all methods of a condition
  share chunks; and a copy two methods give alike (the same top pixels of the same image at a step —
  frequent where methods agree on a coarse feature map) is forwarded once
  (`camx.metrics.deletion_insertion_many`); timm's TensorFlow-"SAME" convolutions run without their
  padded input copy (`camx.cam.fast_layers.StaticSameConv2d`, exact). Both pipelines forward ~31 copies
  per image per deletion/insertion pair, so that ratio is the ratio of one forward's cost: ~2.7 ms per
  128 px image in camx's chunks of 16 against ~4.5 ms for the plain model at TorchCAM's batch 32 (the
  race of `docs/results/eval_throughput.md`: 5.4 s vs 9.2 s for 64 images, one thread; `torch.compile` of the copy took 28 s to gain ~8%, and fusing each convolution with its
  ReLU6 through oneDNN post-ops gained nothing measurable, so neither is used).
- **Peak memory** is the peak RSS of a fresh process explaining one 224 px image with a score method
  at several `chunk_size` values (masked images per forward; `auto`, the default, is 2^18 pixels per
  forward: 5 images at 224 px): memory is bounded by the chunk, not by the number of channels, and
  the seconds column shows why `auto` is small at 224 px (large chunks spill the CPU caches).
- **Methods added from the peers' catalogues** (`benchmarks/bench_new_methods.py`, one results file per
  run under `docs/results/new_methods*.md`) time each such camx method against the peer class it was
  added from, on EfficientNet-Lite0 with its shipped ImageNet weights (target `bn2`), scikit-image's
  `chelsea` at 224 px, one torch thread, camx and peer calls alternating; the per-channel methods run
  once each, SS-CAM and IS-CAM with 2 samples / steps instead of their defaults to stay affordable. Each
  file's footnote gives its load and command.
"""
