#!/usr/bin/python3
# PyTorch side of bench/fashion_eval.sh: rebuilds the Fashion-MNIST CNN from the
# weights inside fashion_cnn.onnx and prints {"images_per_s": .., "accuracy": ..}.
import argparse, gzip, json, time
import numpy as np
import onnx
from onnx import numpy_helper
import torch

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--threads", type=int, default=1)
args = ap.parse_args()
torch.set_num_threads(args.threads)

w = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(args.model).graph.initializer}
net = torch.nn.Sequential(
    torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
    torch.nn.Linear(5408, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10), torch.nn.Softmax(dim=1))
net.load_state_dict({k: w[k] for k in net.state_dict()})
net.eval()

with gzip.open(f"{args.data}/t10k-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
with gzip.open(f"{args.data}/t10k-labels-idx1-ubyte.gz") as f:
    y = np.frombuffer(f.read(), np.uint8, offset=8)

correct, busy = 0, 0.0
with torch.no_grad():
    for i in range(0, len(x), args.batch):
        xb = torch.from_numpy(x[i:i + args.batch].astype(np.float32) / 255.0)
        t0 = time.perf_counter()
        p = net(xb)
        busy += time.perf_counter() - t0
        correct += int((p.argmax(1).numpy() == y[i:i + args.batch]).sum())
print(json.dumps({"images_per_s": len(x) / busy, "accuracy": correct / len(x)}))
