#!/usr/bin/env python3
"""PyTorch reference of loev's SF-NFNet-F0 (MULE Keras layout) for `loev bench model`.

Times one training step (forward + backward + Adam) of the same architecture as the Rust
`loev-model` crate: weight-standardised convs (gain, bias, eps 1e-4, TF "SAME" padding), scaled
exact GELU, NF bottleneck blocks (alpha 0.2, MULE betas, SkipInit, SE x2, per-example stochastic
depth 0.1*i/n), slow/fast stems, four fast->slow fusions, pooled concat + scaled GELU, projection
heads (Dense+ReLU ..., last Dense without bias). Widths come from the same rules as
`EncoderConfig::scaled`. The loss is the same stand-in as the Rust benchmark: mean over heads of
mean(z^2); the loss is a negligible part of a step.

Prints one JSON object on stdout: {"ms_per_step": [...], "median_ms": ..., "params": ...}.
Written for this project (pinned in requirements.txt); not a port of any other code base.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

GELU_GAIN = 1.7015043497085571
WS_EPS = 1e-4


def same_pad(length, kernel, stride):
    out = -(-length // stride)
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


class WSConv2d(nn.Module):
    def __init__(self, cin, cout, kernel, stride=(1, 1), groups=1):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin // groups, *kernel))
        fan_in = cin // groups * kernel[0] * kernel[1]
        nn.init.normal_(self.weight, 0.0, math.sqrt(1.0 / fan_in))
        self.gain = nn.Parameter(torch.ones(cout))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.stride, self.groups, self.kernel = stride, groups, kernel

    def forward(self, x, input_scale=1.0):
        w = self.weight
        fan_in = w[0].numel()
        var, mean = torch.var_mean(w, dim=(1, 2, 3), keepdim=True, unbiased=False)
        scale = torch.rsqrt(torch.clamp(var * fan_in, min=WS_EPS)) * self.gain.view(-1, 1, 1, 1)
        w = (w - mean) * scale
        if input_scale != 1.0:
            w = w * input_scale
        (pt, pb) = same_pad(x.shape[2], self.kernel[0], self.stride[0])
        (pl, pr) = same_pad(x.shape[3], self.kernel[1], self.stride[1])
        if pt or pb or pl or pr:
            x = F.pad(x, (pl, pr, pt, pb))
        return F.conv2d(x, w, self.bias, self.stride, 0, 1, self.groups)


def dense(din, dout, bias=True, small=False):
    layer = nn.Linear(din, dout, bias=bias)
    if small:
        nn.init.normal_(layer.weight, 0.0, 0.01)
    else:
        nn.init.xavier_uniform_(layer.weight)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class NFBlock(nn.Module):
    def __init__(self, cin, cout, groups, se_hidden, freq_stride, transition, beta, alpha, drop_p):
        super().__init__()
        mid = cout // 2
        self.conv0 = WSConv2d(cin, mid, (1, 1))
        self.conv1 = WSConv2d(mid, mid, (1, 3), (freq_stride, 1), groups)
        self.conv1b = WSConv2d(mid, mid, (3, 1), (1, 1), groups)
        self.conv2 = WSConv2d(mid, cout, (1, 1))
        self.se_squeeze = dense(cout, se_hidden)
        self.se_excite = dense(se_hidden, cout)
        self.shortcut = WSConv2d(cin, cout, (1, 1)) if transition else None
        self.skip_gain = nn.Parameter(torch.zeros(()))
        self.beta, self.alpha, self.freq_stride, self.drop_p = beta, alpha, freq_stride, drop_p

    def forward(self, x):
        act = F.gelu(x)
        scale = self.beta * GELU_GAIN
        if self.shortcut is not None:
            pooled = act
            if self.freq_stride > 1:
                pt, pb = same_pad(act.shape[2], self.freq_stride, self.freq_stride)
                pooled = F.avg_pool2d(F.pad(act, (0, 0, pt, pb)) if pb else act, (self.freq_stride, 1))
            shortcut = self.shortcut(pooled, scale)
        else:
            shortcut = x
        h = self.conv0(act, scale)
        h = self.conv1(F.gelu(h), GELU_GAIN)
        h = self.conv1b(F.gelu(h), GELU_GAIN)
        h = self.conv2(F.gelu(h), GELU_GAIN)
        gate = torch.sigmoid(self.se_excite(F.relu(self.se_squeeze(h.mean(dim=(2, 3))))))
        gate = gate * (2.0 * self.alpha) * self.skip_gain
        if self.training and self.drop_p > 0:
            keep = (torch.rand(x.shape[0], 1, device=x.device) >= self.drop_p).to(x.dtype)
            gate = gate * keep
        return shortcut + h * gate[:, :, None, None]


def scaled_widths(m, depths):
    # Same rule as EncoderConfig::scaled: round half away from zero, at least 2 channels.
    r = lambda c: max(2, math.floor(c * m + 0.5))
    slow_gw, fast_gw = r(128), r(16)
    groups = [1, 2, 6, 6]
    return dict(
        slow_stem=[r(c) for c in (16, 32, 64, 128)],
        fast_stem=[r(c) for c in (2, 4, 8, 16)],
        slow=[2 * g * slow_gw for g in groups],
        fast=[2 * g * fast_gw for g in groups],
        groups=groups,
        fusion=[r(c) for c in (32, 32, 64, 192)],
        expansions=[4, 8, 8, 16],
        depths=depths,
    )


def betas(depths, alpha=0.2):
    out = []
    for stage, depth in enumerate(depths):
        stage_std = 1.0 if stage == 0 else math.sqrt(1 + alpha * alpha)
        e = math.sqrt(stage_std ** 2 + alpha * alpha)
        row = []
        for b in range(depth):
            if b == 0:
                row.append(1.0 / stage_std)
            else:
                row.append(1.0 / e)
                e = math.sqrt(e * e + alpha * alpha)
        out.append(row)
    return out


class Stem(nn.Module):
    def __init__(self, channels, layout):
        super().__init__()
        convs, cin = [], 1
        for c, (k, s) in zip(channels, layout):
            convs.append(WSConv2d(cin, c, k, s))
            cin = c
        self.convs = nn.ModuleList(convs)

    def forward(self, x):
        h = self.convs[0](x)
        for conv in self.convs[1:]:
            h = conv(F.gelu(h), GELU_GAIN)
        return h


class SFNFNet(nn.Module):
    def __init__(self, w, branches=0, alpha=0.2, rate=0.1):
        super().__init__()
        self.slow_stem = Stem(w["slow_stem"], [((3, 1), (2, 8)), ((3, 1), (1, 1)), ((3, 1), (1, 1)), ((3, 3), (2, 2))])
        self.fast_stem = Stem(w["fast_stem"], [((3, 3), (2, 2)), ((3, 3), (1, 1)), ((3, 3), (1, 1)), ((3, 3), (2, 2))])
        n_blocks = sum(w["depths"])
        bts = betas(w["depths"], alpha)
        self.fusions = nn.ModuleList()
        self.slow_stages, self.fast_stages = nn.ModuleList(), nn.ModuleList()
        self.slow_branches, self.fast_branches = nn.ModuleList(), nn.ModuleList()
        slow_in, fast_in, index = w["slow_stem"][-1], w["fast_stem"][-1], 0
        for s in range(4):
            fo = w["fusion"][s] * w["expansions"][s]
            self.fusions.append(nn.ModuleList([WSConv2d(fast_in, w["fusion"][s], (1, 7), (1, 4)), WSConv2d(w["fusion"][s], fo, (1, 1))]))
            slow_in += fo
            last = s == 3
            for path, stages, brs in (("slow", self.slow_stages, self.slow_branches), ("fast", self.fast_stages, self.fast_branches)):
                width = w[path][s]
                cin = slow_in if path == "slow" else fast_in

                def block(b, c_in):
                    return NFBlock(c_in, width, w["groups"][s], width // 2, 2 if (b == 0 and s > 0) else 1, b == 0,
                                   bts[s][b], alpha, rate * (index + b) / n_blocks)

                trunk = 1 if (last and branches) else w["depths"][s]
                blocks, c = [], cin
                for b in range(trunk):
                    blocks.append(block(b, c))
                    c = width
                stages.append(nn.Sequential(*blocks))
                if last and branches:
                    for _ in range(branches):
                        brs.append(nn.Sequential(*[block(b, width) for b in range(1, w["depths"][s])]))
            slow_in, fast_in = w["slow"][s], w["fast"][s]
            index += w["depths"][s]

    @staticmethod
    def pool(slow, fast):
        return F.gelu(torch.cat([slow.mean(dim=(2, 3)), fast.mean(dim=(2, 3))], 1)) * GELU_GAIN

    def forward(self, x):
        slow, fast = self.slow_stem(x), self.fast_stem(x)
        for s in range(4):
            t, e = self.fusions[s]
            slow = torch.cat([slow, e(t(fast))], 1)
            slow, fast = self.slow_stages[s](slow), self.fast_stages[s](fast)
        if len(self.slow_branches) == 0:
            return [self.pool(slow, fast)]
        return [self.pool(sb(slow), fb(fast)) for sb, fb in zip(self.slow_branches, self.fast_branches)]


class Head(nn.Module):
    def __init__(self, din, dims):
        super().__init__()
        layers = []
        for i, d in enumerate(dims):
            last = i == len(dims) - 1
            layers.append(dense(din, d, bias=not last, small=last))
            din = d
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(F.relu(x) if i else x)
        return x


class Model(nn.Module):
    def __init__(self, m, depths, heads, dims, plusplus):
        super().__init__()
        w = scaled_widths(m, depths)
        self.encoder = SFNFNet(w, branches=heads if plusplus else 0)
        d = w["slow"][3] + w["fast"][3]
        self.heads = nn.ModuleList([Head(d, dims) for _ in range(heads)])

    def forward(self, x):
        pooled = self.encoder(x)
        if len(pooled) == 1:
            pooled = pooled * len(self.heads)
        return [h(v) for h, v in zip(self.heads, pooled)]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--width-multiplier", type=float, default=1.0)
    p.add_argument("--depths", default="1,2,6,3")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--mels", type=int, default=96)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--heads", type=int, default=1)
    p.add_argument("--projection-dims", default="1728,1728,512")
    p.add_argument("--plusplus", action="store_true")
    p.add_argument("--steps", type=int, default=5, help="timed steps (at least 1)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["f32", "bf16"], default="f32",
                   help="bf16: autocast the forward pass to bfloat16 (weights and Adam stay f32)")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory layout for model and input")
    a = p.parse_args()
    a.steps = max(a.steps, 1)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    depths = [int(d) for d in a.depths.split(",")]
    dims = [int(d) for d in a.projection_dims.split(",")]
    device = torch.device(a.device)
    model = Model(a.width_multiplier, depths, a.heads, dims, a.plusplus).to(device).train()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, eps=1e-8)
    x = torch.randn(a.batch, 1, a.mels, a.frames, device=device)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    autocast_dtype = torch.bfloat16 if a.dtype == "bf16" else None

    def step_once():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            zs = model(x)
            loss = torch.stack([(z.float() * z.float()).mean() for z in zs]).mean()
        loss.backward()
        opt.step()
        return loss

    # FLOPs of one step as PyTorch counts them (convolutions and matrix products, forward and
    # backward), to compare with loev's own count.
    flops = None
    try:
        from torch.utils.flop_counter import FlopCounterMode
        counter = FlopCounterMode(display=False)
        with counter:
            step_once()
        flops = counter.get_total_flops()
    except Exception:  # older torch or an op the counter cannot trace: report none
        flops = None
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    times, cpu_times = [], []
    for step in range(a.warmup + a.steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        c0 = time.process_time()
        loss = step_once()
        loss_value = loss.item()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= a.warmup:
            times.append((time.perf_counter() - t0) * 1000.0)
            cpu_times.append((time.process_time() - c0) * 1000.0)
    print(json.dumps({
        "ms_per_step": times,
        "cpu_ms_per_step": cpu_times,
        "median_ms": statistics.median(times),
        "params": params,
        "encoder_params": sum(p.numel() for p in model.encoder.parameters()),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "loss": loss_value,
        "dtype": a.dtype,
        "channels_last": a.channels_last,
        "flops_per_step": flops,
        "peak_gpu_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
        # PyTorch's defaults: cuDNN convolutions may use TF32, matrix products do not.
        "tf32": {"cudnn": torch.backends.cudnn.allow_tf32, "matmul": torch.backends.cuda.matmul.allow_tf32},
    }))


if __name__ == "__main__":
    main()
