// Node http + onnxruntime-node peer of bench/serve/run.sh: the server a user would
// otherwise write in Node for the Fashion-MNIST CNN. One process, onnxruntime with one
// intra-op and one inter-op thread, the same endpoints and JSON as `ferry serve PACKAGE`:
//   POST /predict                       {"image": [784 pixels 0..255]} or {"instances": [...]}
//                                       -> {"predictions": [{"label", "class", "scores"}]}
//   POST /v2/models/fashion-cnn/infer   KServe V2 JSON tensors -> V2 response
//   GET  /v2/health/ready               200 once the model is loaded
// Usage: node bench/serve/node_server.js MODEL.onnx LABELS.txt PORT
// (onnxruntime-node comes from bench/serve/node_modules, installed by run.sh).
'use strict';
const http = require('http');
const fs = require('fs');
const ort = require('onnxruntime-node');

const [model, labelsPath, port] = process.argv.slice(2);
if (!model || !labelsPath || !port) {
  console.error('usage: node node_server.js MODEL.onnx LABELS.txt PORT');
  process.exit(2);
}
const NAME = 'fashion-cnn', VERSION = '1.0.0';
const SCALE = 1 / 255; // the package's preprocessing (ferry.yaml: scale 1/255), applied by /predict
const labels = fs.readFileSync(labelsPath, 'utf8').split('\n').map((s) => s.trim());

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)});
  res.end(body);
}

function flat(v) {
  return Array.isArray(v) ? v.flat(Infinity) : null;
}

async function main() {
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 1, interOpNumThreads: 1});
  const input = session.inputNames[0], output = session.outputNames[0];

  async function run(data, n) {
    const out = await session.run({[input]: new ort.Tensor('float32', data, [n, 1, 28, 28])});
    return out[output].data; // Float32Array, n x 10
  }

  async function predict(body) {
    const rows = body.image !== undefined ? [body.image] : body.instances;
    if (!Array.isArray(rows) || rows.length === 0) throw new Error("expected 'image' or 'instances'");
    const data = new Float32Array(rows.length * 784);
    rows.forEach((r, i) => {
      const v = flat(r);
      if (!v || v.length !== 784) throw new Error(`instance ${i}: expected 784 values`);
      for (let j = 0; j < 784; j++) {
        if (typeof v[j] !== 'number') throw new Error(`instance ${i}: value ${j} is not a number`);
        data[i * 784 + j] = v[j] * SCALE;
      }
    });
    const p = await run(data, rows.length);
    const predictions = [];
    for (let i = 0; i < rows.length; i++) {
      const scores = Array.from(p.subarray(i * 10, i * 10 + 10));
      let c = 0;
      for (let k = 1; k < 10; k++) if (scores[k] > scores[c]) c = k;
      predictions.push({label: c < labels.length ? labels[c] : null, class: c, scores});
    }
    return {predictions};
  }

  async function infer(body) {
    const ins = body.inputs;
    if (!Array.isArray(ins) || ins.length !== 1 || ins[0].name !== input || ins[0].datatype !== 'FP32')
      throw new Error(`expected one FP32 input '${input}'`);
    const {shape} = ins[0];
    const v = flat(ins[0].data);
    if (!Array.isArray(shape) || shape.length !== 4 || shape[1] !== 1 || shape[2] !== 28 || shape[3] !== 28 ||
        !Number.isInteger(shape[0]) || shape[0] < 1)
      throw new Error('shape must be [N, 1, 28, 28]');
    if (!v || v.length !== shape[0] * 784) throw new Error('data does not match the shape');
    const data = new Float32Array(v.length);
    for (let j = 0; j < v.length; j++) {
      if (typeof v[j] !== 'number') throw new Error(`value ${j} is not a number`);
      data[j] = v[j];
    }
    const p = await run(data, shape[0]);
    const res = {model_name: NAME, model_version: VERSION};
    if (typeof body.id === 'string') res.id = body.id;
    res.outputs = [{name: output, datatype: 'FP32', shape: [shape[0], 10], data: Array.from(p)}];
    return res;
  }

  const routes = {'/predict': predict, [`/v2/models/${NAME}/infer`]: infer};
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/v2/health/ready') return send(res, 200, {});
    const handler = req.method === 'POST' ? routes[req.url] : undefined;
    if (!handler) {
      req.resume();
      return send(res, 404, {error: `no route ${req.method} ${req.url}`});
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        return send(res, 400, {error: `invalid JSON: ${e.message}`});
      }
      try {
        send(res, 200, await handler(body));
      } catch (e) {
        send(res, 400, {error: e.message});
      }
    });
  });
  server.listen(Number(port), '127.0.0.1', () => console.log(`node: listening on http://127.0.0.1:${port}`));
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
