"""Example analysis: seeded random walks summarised in output/result.json and drawn in output/walks.png."""
import argparse
import json
import os
import struct
import zlib

import numpy as np


def write_png(path, pixels, width, height):
    """A minimal RGB PNG encoder, so the example needs nothing beyond numpy."""
    raw = b"".join(b"\x00" + bytes(pixels[y * width * 3:(y + 1) * width * 3]) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def plot(walks, path, width=320, height=200):
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    lo, hi = walks.min(), walks.max()
    colors = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]
    for i, walk in enumerate(walks):
        xs = np.linspace(0, width - 1, len(walk)).astype(int)
        ys = (height - 1 - (walk - lo) / max(hi - lo, 1e-9) * (height - 1)).astype(int)
        for x0, y0, x1, y1 in zip(xs[:-1], ys[:-1], xs[1:], ys[1:]):
            for t in np.linspace(0, 1, max(abs(x1 - x0), abs(y1 - y0)) + 1):
                img[int(round(y0 + (y1 - y0) * t)), int(round(x0 + (x1 - x0) * t))] = colors[i % len(colors)]
    write_png(path, img.flatten().tolist(), width, height)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3, help="number of walks")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    walks = rng.standard_normal((args.n, args.steps)).cumsum(axis=1)
    for i, walk in enumerate(walks):
        print(f"walk {i}: final {walk[-1]:+.3f}, max {walk.max():+.3f}", flush=True)

    os.makedirs("output", exist_ok=True)
    result = {"n": args.n, "steps": args.steps, "seed": args.seed, "final": [round(float(w[-1]), 6) for w in walks]}
    with open("output/result.json", "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")
    plot(walks, "output/walks.png")
    print("wrote output/result.json and output/walks.png")


if __name__ == "__main__":
    main()
