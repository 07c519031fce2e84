"""Bench: where RANet's per-frame time goes (encoder, RAM, decoder parts, top operators).

Times one object's pass through the model at the tracker's input size on random input
(process CPU time per call, so with ``--threads 1`` the figure is what an idle core
would take), then lists the operators that take the most time in ``torch.profiler``.

    python bench/ranet_profile.py [--checkpoint CKPT] [--size 352 608] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--size", type=int, nargs=2, default=(352, 608))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--ops", type=int, default=12, help="operators listed")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    import torch.nn.functional as F

    from gazevos.models.ranet.checkpoint import default_checkpoint, load_with_input_size

    torch.set_num_threads(args.threads)
    model, _ = load_with_input_size(args.checkpoint or default_checkpoint())
    model.eval()
    h, w = args.size
    gen = torch.Generator().manual_seed(0)
    image = torch.randn(1, 3, h, w, generator=gen)
    mask = (torch.rand(1, 1, h, w, generator=gen) > 0.7).float()

    def cpu_ms(fn: Callable[[], object]) -> float:
        fn()
        c = time.process_time()
        for _ in range(args.repeat):
            fn()
        return 1000 * (time.process_time() - c) / args.repeat

    m = model
    with torch.inference_mode():
        feats, emb = m.embed(image)
        kernel, tm = m.template(emb, mask)
        fg, bg = m.rank(kernel, tm, emb)
        f0, f1, f2, f3, f4 = feats
        mf, mb = m.merge(fg), m.merge(bg)
        mp = F.adaptive_avg_pool2d(mask, mf.shape[-2:])
        x1 = m.R1(torch.cat([m.ls13(f2), m.ls14(f3), m.ls15(f4), mf, mb, mp], 1))
        x2 = m.R2(torch.cat([m.ls22(f1), m.ls23(f2), m.ls24(f3), x1], 1))
        parts = {
            "encoder (base_model)": lambda: m.base_model(image),
            "embed (encoder + embedding heads)": lambda: m.embed(image),
            "rank (correlation + RAM)": lambda: m.rank(kernel, tm, emb),
            "merge (fg and bg)": lambda: (m.merge(fg), m.merge(bg)),
            "R1 (stride 8)": lambda: m.R1(torch.cat([m.ls13(f2), m.ls14(f3), m.ls15(f4),
                                                     mf, mb, mp], 1)),
            "R2 (stride 4)": lambda: m.R2(torch.cat([m.ls22(f1), m.ls23(f2), m.ls24(f3),
                                                     x1], 1)),
            "R3 (stride 2 -> 1)": lambda: m.R3(torch.cat([m.ls31(f0), m.ls32(f1),
                                                          m.ls33(f2), x2], 1)),
            "decode (merge + R1-R3)": lambda: m.decode(feats, fg, bg, mask),
            "one object's frame (embed + segment)": lambda: m.segment(
                *m.embed(image), kernel, tm, mask),
        }
        print(f"RANet {m.config.encoder} encoder, input {h}x{w}, {args.threads} thread(s), "
              f"CPU ms per call (mean of {args.repeat})")
        for name, fn in parts.items():
            print(f"  {name:40s} {cpu_ms(fn):8.1f}")
        from torch.profiler import profile

        with profile() as prof:
            for _ in range(args.repeat):
                m.segment(*m.embed(image), kernel, tm, mask)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.ops))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
