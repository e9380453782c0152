"""Example analysis: seeded random walks summarised in output/result.json and drawn in output/walks.png."""
import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")  # no display in a container
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot(walks, path):
    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=100)
    for i, walk in enumerate(walks):
        ax.plot(walk, label=f"walk {i}", linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("position")
    ax.set_title(f"{len(walks)} seeded random walks")
    ax.legend(loc="upper left")
    fig.tight_layout()
    # No software/date metadata: the same walks give the same bytes, so reprise verify can compare them.
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


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
