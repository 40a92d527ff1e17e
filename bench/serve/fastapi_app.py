#!/usr/bin/python3
# FastAPI + uvicorn + PyTorch peer of bench/serve/run.sh: the server a user would
# otherwise write for the Fashion-MNIST CNN. It rebuilds the net from the weights
# inside fashion_cnn.onnx (as bench/fashion_torch.py does), runs it on one thread,
# and answers the same two endpoints as `ferry serve PACKAGE`, with the same JSON:
#   POST /predict                       {"image": [784 pixels 0..255]} or {"instances": [...]}
#                                       -> {"predictions": [{"label", "class", "scores"}]}
#   POST /v2/models/fashion-cnn/infer   KServe V2 JSON tensors -> V2 response
#   GET  /v2/health/ready               200 once the model is loaded
# Written the way FastAPI's documentation teaches: Pydantic request models and plain
# `def` handlers (FastAPI runs them in its thread pool, so compute does not block the
# event loop). Run: FERRY_BENCH_MODEL=... uvicorn fastapi_app:app --app-dir bench/serve
import os
from typing import List, Optional

import numpy as np
import onnx
import torch
from fastapi import FastAPI, HTTPException
from onnx import numpy_helper
from pydantic import BaseModel

torch.set_num_threads(1)

MODEL = os.environ.get("FERRY_BENCH_MODEL", "examples/fashion-mnist/fashion_cnn.onnx")
LABELS = os.environ.get("FERRY_BENCH_LABELS", os.path.join(os.path.dirname(MODEL), "labels.txt"))
NAME, VERSION = "fashion-cnn", "1.0.0"
SCALE = 1.0 / 255.0  # the package's preprocessing (ferry.yaml: scale 1/255), applied by /predict

w = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(MODEL).graph.initializer}
net = torch.nn.Sequential(
    torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
    torch.nn.Linear(5408, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10), torch.nn.Softmax(dim=1))
net.load_state_dict({k: w[k] for k in net.state_dict()})
net.eval()
with open(LABELS) as f:
    labels = [line.strip() for line in f]

app = FastAPI()


def run(x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


class PredictRequest(BaseModel):
    image: Optional[List[float]] = None
    instances: Optional[List[List[float]]] = None


class V2Input(BaseModel):
    name: str
    shape: List[int]
    datatype: str
    data: List[float]


class V2Request(BaseModel):
    id: Optional[str] = None
    inputs: List[V2Input]


@app.get("/v2/health/ready")
def ready():
    return {}


@app.post("/predict")
def predict(req: PredictRequest):
    rows = [req.image] if req.image is not None else req.instances
    if not rows:
        raise HTTPException(400, "expected 'image' or 'instances'")
    try:
        x = np.asarray(rows, dtype=np.float32).reshape(-1, 1, 28, 28) * np.float32(SCALE)
    except ValueError as e:
        raise HTTPException(400, f"bad input: {e}")
    p = run(x)
    out = []
    for row in p:
        c = int(row.argmax())
        out.append({"label": labels[c] if c < len(labels) else None, "class": c, "scores": row.tolist()})
    return {"predictions": out}


@app.post(f"/v2/models/{NAME}/infer")
def infer(req: V2Request):
    if len(req.inputs) != 1 or req.inputs[0].name != "image" or req.inputs[0].datatype != "FP32":
        raise HTTPException(400, "expected one FP32 input 'image'")
    i = req.inputs[0]
    try:
        x = np.asarray(i.data, dtype=np.float32).reshape(i.shape)
        if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"shape {i.shape} is not [N, 1, 28, 28]")
    except ValueError as e:
        raise HTTPException(400, f"bad input: {e}")
    p = run(x)
    res = {"model_name": NAME, "model_version": VERSION}
    if req.id is not None:
        res["id"] = req.id
    res["outputs"] = [{"name": "probabilities", "datatype": "FP32", "shape": list(p.shape),
                       "data": p.reshape(-1).tolist()}]
    return res
