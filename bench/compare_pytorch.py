#!/usr/bin/python3
"""Times xgrad's siamese step (bench/siamese_step) against the same model in PyTorch.

For every configuration (model × mode × threads) it runs build/float/bench/siamese_step and a
PyTorch re-implementation of the same step — each in its own fresh process, so that the peak
RSS is per configuration — and prints one table: throughput of both sides, their ratio and
their peak RSS.

  bench/compare_pytorch.py                       # everything (seed train takes minutes)
  bench/compare_pytorch.py --only small          # small train at 2 and 1 threads
  bench/compare_pytorch.py --only small --only inference --repeats 3 --json /tmp/cmp.json
  bench/compare_pytorch.py --only seed --threads 2
  bench/compare_pytorch.py --xgrad-env OMP_WAIT_POLICY=ACTIVE --xgrad-env OMP_PROC_BIND=

The PyTorch side:
  * the same towers (Keras semantics: valid padding, relu fused after conv/dense), initialised
    from the very weights xgrad starts from (siamese_step --save-weights, converted: conv
    kernels HWIO → OIHW, dense kernels [in, out] → [out, in]);
  * xgrad flattens NHWC. With channels_last PyTorch permutes the activation to NHWC before the
    flatten (a free view: channels_last memory *is* NHWC); with NCHW it flattens CHW (free too)
    and the first dense kernel's rows are permuted instead. Either way the FLOPs are equal and
    the model computes the same function (checked against a numpy reference, see below);
  * both memory formats (NCHW and channels_last; or one forced with --memory-format) and both
    OpenMP wait policies are timed for every configuration, and the fastest counts;
  * one step = zero_grad(set_to_none=True), tower(cat(first, second)), halves, euclidean
    distance sqrt(max(sum((a-b)^2), 1e-12)), contrastive loss (margin 1, labels 1,0,1,0,…),
    backward, Adam(lr 1e-3, betas 0.9/0.999, eps 1e-7 as Keras); inference = one tower pass
    under torch.no_grad(); inputs uniform in [0, 1); warm-up steps, then the median step;
  * ReLU is in-place (what a PyTorch user writes for speed; autograd allows it here).

Numeric check: the loss cannot be compared with xgrad's (its random inputs are drawn in C++),
so instead the probe processes check that the loaded PyTorch tower matches a float64 numpy
reference forward of the xgrad-layout weights (NHWC, HWIO, [in, out]) on a fixed input.

Environment: both sides run without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE. PyTorch runs each
configuration with OMP_WAIT_POLICY=PASSIVE and with it unset, and the faster counts (PASSIVE
wins its inference, unset its training here); it gets jemalloc (LD_PRELOAD, MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1)
if installed else GLIBC_TUNABLES=glibc.malloc.hugetlb=1, torch.set_num_threads(N), and
OMP_NUM_THREADS=N / OPENBLAS_NUM_THREADS=N (Debian's torch does its Linear GEMMs in the
pthreads OpenBLAS, whose pool torch.set_num_threads does not size). xgrad gets
GNU OpenMP's default wait policy (OMP_WAIT_POLICY unset: measured best for it; PASSIVE costs
it 30%) plus --threads N; --xgrad-env / --torch-env KEY=VALUE override or add (KEY= unsets
KEY) for either side.

Exit status: 0 on success, and also 0 with "skipped: python3-torch not installed" when no
interpreter with torch exists; any other failure exits non-zero.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

SYSTEM_PYTHON = "/usr/bin/python3"
REEXEC_MARK = "XGRAD_COMPARE_PYTORCH_REEXEC"
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
SKIPPED = "skipped: python3-torch not installed"


def ensure_torch():
    """Imports torch, re-executing under /usr/bin/python3 if this interpreter lacks it."""
    try:
        import torch  # noqa: F401
        import numpy  # noqa: F401
        return
    except ImportError:
        pass
    same = os.path.realpath(sys.executable) == os.path.realpath(SYSTEM_PYTHON)
    if not same and not os.environ.get(REEXEC_MARK) and os.access(SYSTEM_PYTHON, os.X_OK):
        env = dict(os.environ)
        env[REEXEC_MARK] = "1"
        sys.stdout.flush()
        os.execve(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:], env)
    print(SKIPPED)
    sys.exit(0)


# --------------------------------------------------------------------------------------------
# Models. Each spec is the tower's layer list; shapes are NHWC like xgrad's.

MODELS = {
    # side, channels, default train batch (pairs), default timed steps
    "small": dict(side=28, channels=1, batch=128, steps=30,
                  layers=[("conv", 32), ("relu",), ("pool",), ("conv", 64), ("relu",), ("pool",),
                          ("flatten",), ("dense", 128), ("relu",), ("dense", 64)]),
    "seed": dict(side=170, channels=3, batch=32, steps=5,
                 layers=[("conv", 64), ("relu",), ("flatten",), ("dense", 128), ("relu",),
                         ("dense", 64), ("relu",), ("dense", 32)]),
}
INFERENCE_BATCH = 256
DEFAULT_WARMUP = 2


def param_layers(model):
    """[(kind, units, input_shape_hwc)] of the conv/dense layers, plus the HWC shape entering
    the flatten (for the dense kernel permutation)."""
    spec = MODELS[model]
    h = w = spec["side"]
    c = spec["channels"]
    out, flat_shape, flat = [], None, False
    for layer in spec["layers"]:
        kind = layer[0]
        if kind == "conv":
            out.append(("conv", layer[1], (h, w, c), False))
            h, w, c = h - 2, w - 2, layer[1]
        elif kind == "pool":
            h, w = h // 2, w // 2
        elif kind == "flatten":
            flat_shape, flat = (h, w, c), True
        elif kind == "dense":
            units_in = h * w * c if flat else c
            out.append(("dense", layer[1], (units_in,), flat))
            h, w, c, flat = 1, 1, layer[1], False
    return out, flat_shape


def read_xgrad_npz(path, model):
    """The xgrad weights as [(kernel, bias)] in layer order, names checked against the spec."""
    import numpy as np

    z = np.load(path)
    layers = {}
    order = []
    for key in z.files:
        if "tower/" not in key:
            raise RuntimeError(f"unexpected weight name {key!r} in {path}")
        layer, _, what = key.split("tower/", 1)[1].rpartition("/")
        if what not in ("kernel", "bias"):
            raise RuntimeError(f"unexpected weight name {key!r} in {path}")
        if layer not in layers:
            layers[layer] = {}
            order.append(layer)
        layers[layer][what] = z[key]
    spec, _ = param_layers(model)
    if len(order) != len(spec):
        raise RuntimeError(f"{path}: {len(order)} layers ({order}), the {model} tower has {len(spec)}")
    result = []
    for name, (kind, units, shape_in, _) in zip(order, spec):
        k, b = layers[name]["kernel"], layers[name]["bias"]
        want = (3, 3, shape_in[2], units) if kind == "conv" else (shape_in[0], units)
        prefix = "conv2d" if kind == "conv" else "dense"
        if not name.startswith(prefix) or k.shape != want or b.shape != (units,):
            raise RuntimeError(f"{path}: layer {name} kernel {k.shape} bias {b.shape}; "
                               f"expected a {kind} with kernel {want}")
        result.append((k.astype(np.float32), b.astype(np.float32)))
    return result


def write_torch_weights(xgrad_weights, model, fmt, out_dir):
    """Writes PyTorch-layout .npy files (w0.npy, b0.npy, …) for memory format fmt."""
    import numpy as np

    spec, flat_shape = param_layers(model)
    os.makedirs(out_dir, exist_ok=True)
    for i, ((k, b), (kind, units, _, after_flatten)) in enumerate(zip(xgrad_weights, spec)):
        if kind == "conv":
            w = np.ascontiguousarray(k.transpose(3, 2, 0, 1))  # HWIO → OIHW
        elif after_flatten and fmt == "nchw":
            h, wd, c = flat_shape  # rows are (h, w, c)-ordered; PyTorch flattens (c, h, w)
            w = np.ascontiguousarray(k.reshape(h, wd, c, units).transpose(3, 2, 0, 1)
                                     .reshape(units, c * h * wd))
        else:
            w = np.ascontiguousarray(k.T)  # [in, out] → [out, in]
        np.save(os.path.join(out_dir, f"w{i}.npy"), w)
        np.save(os.path.join(out_dir, f"b{i}.npy"), b)


# --------------------------------------------------------------------------------------------
# The PyTorch worker (runs in its own process).

def build_torch_tower(model, fmt, weights_dir):
    import numpy as np
    import torch
    from torch import nn

    class NHWCFlatten(nn.Module):
        def forward(self, x):  # a view on channels_last memory: no copy
            return x.permute(0, 2, 3, 1).flatten(1)

    spec = MODELS[model]["layers"]
    mods, i = [], 0
    for layer in spec:
        kind = layer[0]
        if kind in ("conv", "dense"):
            w = torch.from_numpy(np.load(os.path.join(weights_dir, f"w{i}.npy")))
            b = torch.from_numpy(np.load(os.path.join(weights_dir, f"b{i}.npy")))
            if kind == "conv":
                m = nn.Conv2d(w.shape[1], w.shape[0], 3, device="meta")
                if fmt == "channels_last":
                    w = w.contiguous(memory_format=torch.channels_last)
            else:
                m = nn.Linear(w.shape[1], w.shape[0], device="meta")
            m.weight = nn.Parameter(w)  # no copy: one copy of the weights in memory
            m.bias = nn.Parameter(b)
            mods.append(m)
            i += 1
        elif kind == "relu":
            mods.append(nn.ReLU(inplace=True))
        elif kind == "pool":
            mods.append(nn.MaxPool2d(2))
        elif kind == "flatten":
            mods.append(NHWCFlatten() if fmt == "channels_last" else nn.Flatten())
    return nn.Sequential(*mods)


def numpy_reference(model, xgrad_weights, x_nhwc):
    """float64 forward of the xgrad-layout weights (NHWC, HWIO, [in, out])."""
    import numpy as np

    x = x_nhwc.astype(np.float64)
    it = iter(xgrad_weights)
    for layer in MODELS[model]["layers"]:
        kind = layer[0]
        if kind == "conv":
            k, b = next(it)
            win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
            x = np.einsum("nhwcij,ijco->nhwo", win, k.astype(np.float64), optimize=True) + b
        elif kind == "relu":
            x = np.maximum(x, 0)
        elif kind == "pool":
            n, h, w, c = x.shape
            x = x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
        elif kind == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif kind == "dense":
            k, b = next(it)
            x = x @ k.astype(np.float64) + b
    return x


def set_openblas_threads(n):
    import ctypes
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(ctypes.c_int(n))
        return True
    except (OSError, AttributeError):
        return False


def worker(a):
    import resource
    import statistics

    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    blas = set_openblas_threads(a.threads)
    spec = MODELS[a.model]
    side, ch = spec["side"], spec["channels"]
    mf = torch.channels_last if a.format == "channels_last" else torch.contiguous_format
    tower = build_torch_tower(a.model, a.format, a.weights_dir)

    check = None
    if a.check_npz:
        rng = np.random.default_rng(0)
        x = rng.random((2, side, side, ch), dtype=np.float32)
        ref = numpy_reference(a.model, read_xgrad_npz(a.check_npz, a.model), x)
        with torch.no_grad():
            got = tower(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=mf))
        got = got.double().numpy()
        err = float(np.max(np.abs(got - ref)) / max(1e-30, float(np.max(np.abs(ref)))))
        check = dict(max_rel_error=err, ok=bool(err < 1e-4))
        if not check["ok"]:
            raise RuntimeError(f"numeric check failed: the PyTorch tower is off the numpy "
                               f"reference by {err:.3g} (relative to max |output|)")

    ms = []
    torch.manual_seed(a.seed)
    if a.steps > 0 and a.inference:
        batch = a.batch or INFERENCE_BATCH
        x = torch.rand(batch, ch, side, side).contiguous(memory_format=mf)
        with torch.no_grad():
            for i in range(a.warmup + a.steps):
                t0 = time.perf_counter()
                e = tower(x)
                t1 = time.perf_counter()
                if e.shape[0] != batch:
                    raise RuntimeError("wrong embedding batch")
                if i >= a.warmup:
                    ms.append((t1 - t0) * 1e3)
    elif a.steps > 0:
        batch = a.batch or spec["batch"]
        first = torch.rand(batch, ch, side, side).contiguous(memory_format=mf)
        second = torch.rand(batch, ch, side, side).contiguous(memory_format=mf)
        y = (torch.arange(batch) % 2 == 0).float()
        params = list(tower.parameters())
        opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
        for i in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            e = tower(torch.cat([first, second]))
            ea, eb = e[:batch], e[batch:]
            d = torch.sqrt(torch.clamp_min((ea - eb).square().sum(1), 1e-12))
            loss = (0.5 * (y * d.square() + (1 - y) * torch.relu(1 - d).square())).mean()
            loss.backward()
            opt.step()
            t1 = time.perf_counter()
            if not np.isfinite(loss.item()):
                raise RuntimeError(f"the loss is not finite at step {i}")
            if i >= a.warmup:
                ms.append((t1 - t0) * 1e3)
    else:
        batch = a.batch or (INFERENCE_BATCH if a.inference else spec["batch"])

    out = dict(model=a.model, mode="inference" if a.inference else "train", threads=a.threads,
               torch_threads=torch.get_num_threads(), openblas_threads_set=blas,
               memory_format=a.format, batch=batch, steps=a.steps,
               parameters=sum(p.numel() for p in tower.parameters()),
               peak_rss_mib=peak_rss_mib())
    if ms:
        med = statistics.median(ms)
        out.update(median_step_ms=med, min_step_ms=min(ms), max_step_ms=max(ms))
        out["embeddings_per_second" if a.inference else "pairs_per_second"] = batch * 1e3 / med
    if check:
        out["check"] = check
    print(json.dumps(out))


# --------------------------------------------------------------------------------------------
# The driver.

def peak_rss_mib():
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: Linux carries that
    across fork and exec, so a worker would report its (large) parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM in /proc/self/status")


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def base_env():
    env = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", REEXEC_MARK):
        env.pop(k, None)
    return env


def apply_overrides(settings, overrides):
    """KEY=VALUE sets KEY, KEY= unsets it."""
    s, unset = settings
    for kv in overrides:
        k, _, v = kv.partition("=")
        if v == "":
            s.pop(k, None)
            unset.append(k)
        else:
            s[k] = v
            if k in unset:
                unset.remove(k)
    return s, unset


def torch_settings(threads, overrides=()):
    """(set, unset) environment of a PyTorch worker: the issue's best settings for it."""
    s = {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": str(threads),
         "OPENBLAS_NUM_THREADS": str(threads)}
    if os.path.exists(JEMALLOC):
        pre = os.environ.get("LD_PRELOAD", "")
        s["LD_PRELOAD"] = JEMALLOC + (" " + pre if pre and JEMALLOC not in pre else "")
        s["MALLOC_CONF"] = "dirty_decay_ms:-1,muzzy_decay_ms:-1"
    else:
        s["GLIBC_TUNABLES"] = "glibc.malloc.hugetlb=1"
    return apply_overrides((s, ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]), overrides)


def xgrad_settings(overrides):
    """xgrad's best measured settings: GNU OpenMP's default wait policy (spin briefly, then
    sleep). OMP_WAIT_POLICY=PASSIVE makes every parallel region wake sleeping threads:
    small-model training 46 ms/step instead of 35 here."""
    return apply_overrides(({}, ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_WAIT_POLICY"]),
                           overrides)


def make_env(settings):
    s, unset = settings
    env = base_env()
    for k in unset:
        env.pop(k, None)
    env.update(s)
    return env


def run_json(cmd, env, what):
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise RuntimeError(f"{what} failed with exit status {p.returncode}: {' '.join(cmd)}")
    lines = [l for l in p.stdout.splitlines() if l.strip().startswith("{")]
    if not lines:
        sys.stderr.write(p.stdout + p.stderr)
        raise RuntimeError(f"{what} printed no JSON: {' '.join(cmd)}")
    return json.loads(lines[-1])


def xgrad_cmd(a, model, inference, threads, steps=None, warmup=None, extra=()):
    cmd = [a.xgrad_binary, "--model", model, "--threads", str(threads), "--seed", str(a.seed)]
    if inference:
        cmd.append("--inference")
    if a.batch:
        cmd += ["--batch", str(a.batch)]
    if steps or a.steps:
        cmd += ["--steps", str(steps or a.steps)]
    if warmup or a.warmup:
        cmd += ["--warmup", str(warmup or a.warmup)]
    return cmd + list(extra)


def torch_cmd(a, model, fmt, weights_dir, inference, threads, steps=None, warmup=None,
              check_npz=None):
    if steps is None:
        steps = a.steps or MODELS[model]["steps"]
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--model", model,
           "--format", fmt, "--weights-dir", weights_dir, "--threads", str(threads),
           "--steps", str(steps), "--warmup", str(warmup or a.warmup or DEFAULT_WARMUP),
           "--seed", str(a.seed), "--batch", str(a.batch)]
    if inference:
        cmd.append("--inference")
    if check_npz:
        cmd += ["--check-npz", check_npz]
    return cmd


def fmt_env(settings):
    s, unset = settings
    parts = [f"{k}={v}" for k, v in s.items()] + [f"-u {k}" for k in unset]
    return " ".join(parts)


def main():
    p = argparse.ArgumentParser(
        description="Time xgrad's siamese step against the same model in PyTorch.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--only", action="append", choices=["small", "seed", "inference"],
                   help="run only these (repeatable): small = small train, seed = seed train, "
                        "inference = small inference (default: all three)")
    p.add_argument("--threads", default="2,1", help="comma-separated thread counts (default 2,1)")
    p.add_argument("--repeats", type=int, default=1,
                   help="alternate xgrad and PyTorch runs N times; report medians of the "
                        "per-run medians (default 1)")
    p.add_argument("--xgrad-binary", default=os.path.join(repo_root(), "build/float/bench/siamese_step"))
    p.add_argument("--xgrad-env", action="append", default=[], metavar="KEY=VALUE",
                   help="xgrad environment override (repeatable; KEY= unsets KEY)")
    p.add_argument("--torch-wait-policies", default="PASSIVE,default",
                   help="OMP_WAIT_POLICY values PyTorch runs with (default: unset); the faster "
                        "per configuration is reported (default PASSIVE,default)")
    p.add_argument("--torch-env", action="append", default=[], metavar="KEY=VALUE",
                   help="PyTorch environment override (repeatable; KEY= unsets KEY)")
    p.add_argument("--memory-format", choices=["auto", "nchw", "channels_last"], default="auto",
                   help="PyTorch conv memory format (default auto: probe both per model)")
    p.add_argument("--steps", type=int, default=0, help="timed steps (0: 30 small, 5 seed)")
    p.add_argument("--warmup", type=int, default=0, help="warm-up steps (0: 2)")
    p.add_argument("--batch", type=int, default=0,
                   help="pairs per step / images per inference pass (0: the model's default)")
    p.add_argument("--seed", type=int, default=1, help="seed of weights and inputs")
    p.add_argument("--json", metavar="FILE", help="also write the table as JSON")
    # internal: one PyTorch configuration in this process
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--format", help=argparse.SUPPRESS)
    p.add_argument("--weights-dir", help=argparse.SUPPRESS)
    p.add_argument("--inference", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--check-npz", help=argparse.SUPPRESS)
    a = p.parse_args()

    ensure_torch()
    if a.worker:
        a.threads = int(a.threads)
        worker(a)
        return 0

    threads = [int(t) for t in a.threads.split(",") if t.strip()]
    if not threads or min(threads) < 1:
        p.error("--threads needs thread counts >= 1")
    if a.repeats < 1:
        p.error("--repeats must be >= 1")
    if not os.access(a.xgrad_binary, os.X_OK):
        p.error(f"xgrad binary not found or not executable: {a.xgrad_binary} (build it first)")
    only = a.only or ["small", "inference", "seed"]
    configs = []  # (model, inference)
    for name in ["small", "inference", "seed"]:
        if name in only:
            configs.append(("seed" if name == "seed" else "small", name == "inference"))

    xs = xgrad_settings(a.xgrad_env)
    print(f"# xgrad:   {a.xgrad_binary}")
    print(f"#          env: {fmt_env(xs)}; --threads N")
    ts = torch_settings("N", a.torch_env)
    import torch
    print(f"# PyTorch: {torch.__version__} ({sys.executable})")
    print(f"#          env: {fmt_env(ts)}; torch.set_num_threads(N), "
          f"openblas_set_num_threads(N); Adam eps 1e-7; in-place ReLU")

    results = []
    with tempfile.TemporaryDirectory(prefix="xgrad_cmp_") as tmp:
        formats = {}
        for model in dict.fromkeys(m for m, _ in configs):
            # The xgrad weights (a cheap one-image inference run saves them; weights depend
            # on --seed only, not on the mode or batch).
            npz = os.path.join(tmp, f"{model}.npz")
            run_json(xgrad_cmd(a, model, True, max(threads), steps=1, warmup=1,
                               extra=["--batch", "1", "--save-weights", npz]),
                     make_env(xs), "xgrad --save-weights")
            xw = read_xgrad_npz(npz, model)
            candidates = ["nchw", "channels_last"] if a.memory_format == "auto" else [a.memory_format]
            for fmt in candidates:
                write_torch_weights(xw, model, fmt, os.path.join(tmp, f"{model}_{fmt}"))
            del xw
            # Numeric check of each converted format (a one-step run in the first mode asked).
            inference = next(inf for m, inf in configs if m == model)
            t = max(threads)
            for fmt in candidates:
                r = run_json(torch_cmd(a, model, fmt, os.path.join(tmp, f"{model}_{fmt}"),
                                       inference, t, steps=0, warmup=1, check_npz=npz),
                             make_env(torch_settings(t, a.torch_env)), f"PyTorch check ({model}, {fmt})")
                print(f"# {model}: PyTorch {fmt}: numeric check vs numpy reference "
                      f"max rel error {r['check']['max_rel_error']:.2e} (ok)")
            formats[model] = candidates
            sys.stdout.flush()

        import statistics
        policies = [p.strip() for p in a.torch_wait_policies.split(",") if p.strip()]
        for model, inference in configs:
            for t in threads:
                xr = []
                # PyTorch at its best: every memory format × wait policy is timed, the fastest
                # (median over the repeats) counts.
                variants = [(f, p) for f in formats[model] for p in policies]
                by_variant = {v: [] for v in variants}
                for _ in range(a.repeats):
                    xr.append(run_json(xgrad_cmd(a, model, inference, t), make_env(xs), "xgrad"))
                    for fmt, policy in variants:
                        env_overrides = list(a.torch_env) + [
                            "OMP_WAIT_POLICY=" + ("" if policy == "default" else policy)]
                        by_variant[(fmt, policy)].append(run_json(
                            torch_cmd(a, model, fmt, os.path.join(tmp, f"{model}_{fmt}"), inference, t),
                            make_env(torch_settings(t, env_overrides)), "PyTorch"))
                variant_ms = {v: statistics.median(r["median_step_ms"] for r in by_variant[v])
                              for v in variants}
                best_format, policy = min(variants, key=lambda v: variant_ms[v])
                tr = by_variant[(best_format, policy)]
                batch = xr[0]["batch"]
                if tr[0]["batch"] != batch:
                    raise RuntimeError(f"batch mismatch: xgrad {batch}, PyTorch {tr[0]['batch']}")
                if tr[0]["parameters"] != xr[0]["parameters"]:
                    raise RuntimeError(f"parameter count mismatch: xgrad {xr[0]['parameters']}, "
                                       f"PyTorch {tr[0]['parameters']}")
                xm = statistics.median(r["median_step_ms"] for r in xr)
                tm = statistics.median(r["median_step_ms"] for r in tr)
                row = dict(model=model, mode="inference" if inference else "train", threads=t,
                           batch=batch, unit="embeddings/s" if inference else "pairs/s",
                           xgrad_per_second=batch * 1e3 / xm, pytorch_per_second=batch * 1e3 / tm,
                           ratio=tm / xm, xgrad_median_step_ms=xm, pytorch_median_step_ms=tm,
                           xgrad_peak_rss_mib=statistics.median(r["peak_rss_mib"] for r in xr),
                           pytorch_peak_rss_mib=statistics.median(r["peak_rss_mib"] for r in tr),
                           pytorch_memory_format=best_format, pytorch_wait_policy=policy,
                           pytorch_variant_ms={f"{f} {p}": ms for (f, p), ms in variant_ms.items()},
                           repeats=a.repeats,
                           xgrad_runs=xr, pytorch_runs=tr)
                results.append(row)
                print(f"# done: {model} {row['mode']} {t} threads: xgrad {xm:.1f} ms; PyTorch "
                      + ", ".join(f"{ms:.1f} ms ({f}, OMP_WAIT_POLICY {p})"
                                  for (f, p), ms in variant_ms.items()) + " per step")
                sys.stdout.flush()

    header = ["model", "mode", "threads", "unit", "xgrad", "PyTorch", "xgrad/PyTorch",
              "xgrad RSS MiB", "PyTorch RSS MiB", "PyTorch best of"]
    rows = [[r["model"], r["mode"], str(r["threads"]), r["unit"], f"{r['xgrad_per_second']:.1f}",
             f"{r['pytorch_per_second']:.1f}", f"{r['ratio']:.2f}",
             f"{r['xgrad_peak_rss_mib']:.0f}", f"{r['pytorch_peak_rss_mib']:.0f}",
             f"{r['pytorch_memory_format']}, wait {r['pytorch_wait_policy']}"] for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print()
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(xgrad_binary=a.xgrad_binary, xgrad_env=fmt_env(xs),
                           pytorch_version=torch.__version__, pytorch_env=fmt_env(ts),
                           repeats=a.repeats, results=results), f, indent=2)
            f.write("\n")
        print(f"# wrote {a.json}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
