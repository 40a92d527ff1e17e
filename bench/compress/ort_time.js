// SPDX-License-Identifier: MIT
// ONNX Runtime's side of the compression cross-check: median latency at batch 1
// and 32 of one model on one thread (intra- and inter-op), after 2 warm-up runs.
// usage: node ort_time.js MODEL INPUT_NAME NPY_B1 NPY_B32 RUNS
'use strict';
const path = require('path');
const ort = require(path.join(process.env.ORT_NODE_MODULES ||
                              path.join(__dirname, '..', 'serve', 'node_modules'), 'onnxruntime-node'));
const fs = require('fs');
function readNpy(file) {
  const buf = fs.readFileSync(file);
  const hlen = buf.readUInt16LE(8), start = 10 + hlen;
  const header = buf.toString('latin1', 10, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map(s => s.trim()).filter(s => s.length).map(Number);
  const body = buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length);
  if (descr === '<i8') return new ort.Tensor('int64', new BigInt64Array(body.slice(0)), shape);
  return new ort.Tensor('float32', new Float32Array(body.slice(0)), shape);
}
(async () => {
  const [model, name, b1, b32, runs] = process.argv.slice(2);
  const s = await ort.InferenceSession.create(model, {intraOpNumThreads: 1, interOpNumThreads: 1});
  const res = {};
  for (const [label, f, n] of [['b1', b1, +runs * 2], ['b32', b32, +runs]]) {
    const x = readNpy(f); const t = [];
    for (let i = -2; i < n; i++) { const t0 = process.hrtime.bigint(); await s.run({[name]: x}); if (i >= 0) t.push(Number(process.hrtime.bigint() - t0) / 1e6); }
    t.sort((a, b) => a - b); res[label] = t[Math.floor(t.length / 2)];
  }
  console.log(JSON.stringify({model, latency_b1_ms: res.b1, latency_b32_ms: res.b32, throughput_b32: 32000 / res.b32}));
})();
