#!/usr/bin/python3
# Compare ferry's outputs on the Fashion-MNIST test set ([10000,10] .npy) with
# PyTorch's reference pytorch_probs_t10k.npy; exits 1 if max |diff| > 1e-4 or the
# accuracies differ by more than 0.1 percentage point.
import argparse, gzip, os, sys
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"
TOL = 1e-4
ACC_TOL = 0.001  # 0.1 percentage point


def main():
    ap = argparse.ArgumentParser(description="Compare ferry outputs with PyTorch's.")
    ap.add_argument("ferry_npy", help=".npy of ferry outputs, shape [10000,10]")
    ap.add_argument("--ref", default=os.path.join(HERE, "pytorch_probs_t10k.npy"))
    args = ap.parse_args()

    ferry = np.load(args.ferry_npy).astype(np.float32)
    ref = np.load(args.ref)
    with gzip.open(LABELS, "rb") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)  # 8-byte IDX1 header
    if ferry.shape != ref.shape:
        print(f"shape mismatch: ferry {ferry.shape} vs pytorch {ref.shape}")
        return 1

    diff = float(np.abs(ferry - ref).max())
    print(f"max abs diff:     {diff:.3e} (tolerance {TOL:g})")
    acc_ref = float((ref.argmax(1) == labels).mean())
    acc_ferry = float((ferry.argmax(1) == labels).mean())
    print(f"pytorch accuracy: {acc_ref:.4f}")
    print(f"ferry accuracy:   {acc_ferry:.4f} (must be within {ACC_TOL:g} of PyTorch's)")
    print(f"top-1 agreement:  {(ferry.argmax(1) == ref.argmax(1)).mean():.4f}")
    ok = diff <= TOL and abs(acc_ferry - acc_ref) <= ACC_TOL
    print("match" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
