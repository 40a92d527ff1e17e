# SPDX-License-Identifier: MIT
# Writes the engine benchmark's models and inputs into bench/models/ (git-ignored):
# deterministic (fixed seeds, randomly initialised weights: speed does not depend on
# training), opset 17, batch dimension symbolic. Each model NAME gets NAME.onnx and
# NAME.b1.<input>.npy / NAME.b32.<input>.npy, the inputs both ferry and ORT read.
# Run with Debian's Python: /usr/bin/python3 bench/engine/export_models.py [OUTDIR]
import math
import os
import shutil
import sys

import numpy as np
import torch
from torch import nn

OPSET = 17
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    """The ResNet-18 layout (He et al. 2015): 7x7 stem, four stages of two basic blocks."""

    def __init__(self, classes=1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class EncoderLayer(nn.Module):
    def __init__(self, d, heads, ffn):
        super().__init__()
        self.heads, self.dh = heads, d // heads
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.o = nn.Linear(d, d)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff1, self.ff2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.gelu = nn.GELU()

    def forward(self, x):
        b, s, d = x.shape
        def split(t):
            return t.reshape(b, s, self.heads, self.dh).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.dh), dim=-1) @ v
        x = self.ln1(x + self.o(a.transpose(1, 2).reshape(b, s, d)))
        return self.ln2(x + self.ff2(self.gelu(self.ff1(x))))


class Bert(nn.Module):
    """BERT-style encoder: token + position embeddings, 6 post-norm layers."""

    def __init__(self, vocab=30522, seq=128, d=384, heads=6, ffn=1536, layers=6):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(1, seq, d) * 0.02)
        self.ln = nn.LayerNorm(d)
        self.layers = nn.Sequential(*[EncoderLayer(d, heads, ffn) for _ in range(layers)])

    def forward(self, ids):
        return self.layers(self.ln(self.tok(ids) + self.pos))


class Mlp(nn.Module):
    """Four fully connected layers of width 4096 (about 50M parameters)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2048, 4096), nn.ReLU(), nn.Linear(4096, 4096),
                                 nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
                                 nn.Linear(4096, 2048))

    def forward(self, x):
        return self.net(x)


def randomize_bn(model, gen):
    # Fresh BatchNorm statistics are 0/1 (identity); give them values so folding matters.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def export(model, example, in_name, out_name, path):
    model.eval()
    torch.onnx.export(model, example, path, input_names=[in_name], output_names=[out_name],
                      dynamic_axes={in_name: {0: "batch"}, out_name: {0: "batch"}},
                      opset_version=OPSET, do_constant_folding=True)


def write_inputs(outdir, name, in_name, make):
    rng = np.random.RandomState(1234)
    for b in (1, 32):
        np.save(os.path.join(outdir, f"{name}.b{b}.{in_name}.npy"), make(rng, b))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bench", "models")
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    floats = lambda *shape: lambda rng, b: rng.uniform(-1, 1, (b,) + shape).astype(np.float32)

    shutil.copyfile(os.path.join(ROOT, "examples", "fashion-mnist", "fashion_cnn.onnx"),
                    os.path.join(outdir, "fashion_cnn.onnx"))
    write_inputs(outdir, "fashion_cnn", "image",
                 lambda rng, b: rng.uniform(0, 1, (b, 1, 28, 28)).astype(np.float32))

    with torch.no_grad():
        m = ResNet18()
        randomize_bn(m, gen)
        export(m, torch.randn(1, 3, 224, 224), "image", "logits",
               os.path.join(outdir, "resnet18.onnx"))
        write_inputs(outdir, "resnet18", "image", floats(3, 224, 224))

        m = Bert()
        export(m, torch.randint(0, 1000, (1, 128)), "ids", "hidden",
               os.path.join(outdir, "bert6.onnx"))
        write_inputs(outdir, "bert6", "ids",
                     lambda rng, b: rng.randint(0, 30522, (b, 128)).astype(np.int64))

        m = Mlp()
        export(m, torch.randn(1, 2048), "x", "y", os.path.join(outdir, "mlp50m.onnx"))
        write_inputs(outdir, "mlp50m", "x", floats(2048))
    print(f"models in {outdir}")


if __name__ == "__main__":
    main()
