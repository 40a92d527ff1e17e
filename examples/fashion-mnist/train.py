#!/usr/bin/python3
# Train the small Fashion-MNIST CNN used as ferry's running example, export it to
# ONNX (fashion_cnn.onnx) and save PyTorch's reference outputs on the test set.
import argparse, gzip, json, os, time
import numpy as np
import torch
from torch import nn
import onnx

DATA = "/usr/share/datasets/fashion-mnist"
SEED = 0


def read_idx(path):
    """Read a gzipped IDX file (ubyte data) into a numpy array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split):
    x = read_idx(f"{DATA}/{split}-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = read_idx(f"{DATA}/{split}-labels-idx1-ubyte.gz").astype(np.int64)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


def make_model():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(5408, 128), nn.ReLU(),
        nn.Linear(128, 10),
        nn.Softmax(dim=1),
    )


def main():
    ap = argparse.ArgumentParser(description="Train the Fashion-MNIST example CNN and export it to ONNX.")
    ap.add_argument("--out-dir", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)

    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    xtr, ytr = load("train")
    xte, yte = load("t10k")

    model = make_model()
    logits = model[:-1]  # train on logits; the Softmax layer stays in the exported graph
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(SEED)  # fixed shuffling

    t0 = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(xtr), generator=gen)
        total = 0.0
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            loss = loss_fn(logits(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            acc = (model(xte).argmax(1) == yte).float().mean().item()
        print(f"epoch {epoch}/{args.epochs}: train loss {total / len(xtr):.4f}, "
              f"test acc {acc:.4f}, {time.time() - t0:.0f}s", flush=True)

    model.eval()
    onnx_path = os.path.join(args.out_dir, "fashion_cnn.onnx")
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), onnx_path, opset_version=13,
                      input_names=["image"], output_names=["probabilities"],
                      dynamic_axes={"image": {0: "N"}, "probabilities": {0: "N"}},
                      do_constant_folding=True)
    onnx.checker.check_model(onnx.load(onnx_path))

    with torch.no_grad():
        probs = torch.cat([model(xte[i:i + 1000]) for i in range(0, len(xte), 1000)])
    probs = probs.numpy().astype(np.float32)
    np.save(os.path.join(args.out_dir, "pytorch_probs_t10k.npy"), probs)
    acc = float((probs.argmax(1) == yte.numpy()).mean())
    with open(os.path.join(args.out_dir, "accuracy.json"), "w") as f:
        json.dump({"pytorch_top1_accuracy": round(acc, 4), "count": len(probs),
                   "epochs": args.epochs, "torch_version": torch.__version__,
                   "seed": SEED}, f, indent=2)
        f.write("\n")
    print(f"wrote {onnx_path}; test top-1 accuracy {acc:.4f}; total {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
