#!/usr/bin/python3
"""The request bodies of the serving benchmarks, written into DIR: predict.json
({"image": 784 pixels 0..255}; ferry applies the package's scale 1/255, the peers
do the same) and v2.json (the model's input tensor as a V2 JSON tensor, pixels /
255), from the first Fashion-MNIST test image (an ankle boot), or a fixed synthetic
image when Debian's data set is not installed. Usage: bodies.py DIR"""
import gzip
import json
import sys

if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
    print(__doc__)
    sys.exit(0 if len(sys.argv) == 2 else 2)
try:
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
        px = list(f.read(16 + 784)[16:])
except OSError:  # no data set: a fixed synthetic image
    px = [(i * 37) % 256 for i in range(784)]
c = (",", ":")
with open(f"{sys.argv[1]}/predict.json", "w") as f:
    json.dump({"image": px}, f, separators=c)
v2 = {"inputs": [{"name": "image", "shape": [1, 1, 28, 28], "datatype": "FP32",
                  "data": [round(v / 255, 6) for v in px]}]}
with open(f"{sys.argv[1]}/v2.json", "w") as f:
    json.dump(v2, f, separators=c)
