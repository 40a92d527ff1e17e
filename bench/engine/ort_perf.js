// SPDX-License-Identifier: MIT
// ONNX Runtime's side of the engine benchmark: the same measurement as
// `ferry perf --json` (same keys, same definitions) with onnxruntime-node.
// usage: node ort_perf.js MODEL --input NAME=FILE.npy ... [--threads T]
//        [--iterations N] [--warmup N] [--batch B] [--output-dir DIR]
// Inputs must be given as .npy files (float32, int64, int32); outputs are written
// as DIR/NAME.npy (float32) so run.sh can compare them with ferry's.
'use strict';
const fs = require('fs');
const path = require('path');
const { performance } = require('perf_hooks');

const ort = require(path.join(__dirname, '..', 'node_modules', 'onnxruntime-node'));

function usage(msg) {
  process.stderr.write(`ort_perf: ${msg}\n`);
  process.exit(2);
}

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not .npy`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hlen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',')
    .map((s) => s.trim()).filter((s) => s.length).map(Number);
  const body = buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length);
  const types = { '<f4': ['float32', Float32Array], '<i8': ['int64', BigInt64Array],
    '<i4': ['int32', Int32Array] };
  if (!types[descr]) throw new Error(`${file}: dtype ${descr} not handled`);
  const [type, Arr] = types[descr];
  return new ort.Tensor(type, new Arr(body.slice(0)), shape);
}

function writeNpy(file, tensor) {
  if (tensor.type !== 'float32') throw new Error(`output type ${tensor.type} not handled`);
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${tensor.dims.join(', ')}${
    tensor.dims.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const data = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), data]));
}

function peakRss() {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : -1;
}

function pct(sorted, p) {
  const k = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[k - 1];
}

async function main() {
  const argv = process.argv.slice(2);
  const o = { threads: 1, iterations: 100, warmup: 5, batch: 1, inputs: [], outDir: null };
  let model = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) usage(`${a} wants a number`);
      return v;
    };
    if (a === '--threads') o.threads = num();
    else if (a === '--iterations') o.iterations = num();
    else if (a === '--warmup') o.warmup = num();
    else if (a === '--batch') o.batch = num();
    else if (a === '--input') o.inputs.push(argv[++i]);
    else if (a === '--output-dir') o.outDir = argv[++i];
    else if (a === '--json') { /* always JSON */ } else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else model = a;
  }
  if (!model) usage('missing MODEL');
  if (o.iterations < 1) usage('--iterations must be at least 1');

  const tLoad0 = performance.now();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const tReady = performance.now();
  const feeds = {};
  for (const spec of o.inputs) {
    const eq = spec.indexOf('=');
    if (eq <= 0) usage(`--input wants NAME=FILE, got ${spec}`);
    feeds[spec.slice(0, eq)] = readNpy(spec.slice(eq + 1));
  }
  for (const n of session.inputNames) if (!feeds[n]) usage(`input ${n} not given`);

  const lat = [];
  let tFirst = 0;
  let out = null;
  for (let it = 0; it < o.warmup + o.iterations; it++) {
    const t0 = performance.now();
    out = await session.run(feeds);
    const t1 = performance.now();
    if (it === 0) tFirst = t1;
    if (it >= o.warmup) lat.push(t1 - t0);
  }
  // performance.now() counts from the process's time origin (its start).
  const procFirst = tFirst;
  const mean = lat.reduce((s, v) => s + v, 0) / lat.length;
  lat.sort((x, y) => x - y);
  const med = pct(lat, 50);
  if (o.outDir) {
    for (const n of session.outputNames) {
      const safe = n.includes('/') || n === '..' || !n ? `output_${session.outputNames.indexOf(n)}` : n;
      writeNpy(path.join(o.outDir, `${safe}.npy`), out[n]);
    }
  }
  const r = {
    model, batch: o.batch, threads: o.threads, iterations: o.iterations, warmup: o.warmup,
    latency_ms: { median: med, p90: pct(lat, 90), p99: pct(lat, 99), mean, min: lat[0],
      max: lat[lat.length - 1] },
    throughput_per_s: med > 0 ? (o.batch * 1e3) / med : 0,
    load_ms: tReady - tLoad0, ready_ms: tReady - tLoad0, first_result_ms: tFirst - tLoad0,
    process_first_result_ms: procFirst, peak_rss_bytes: peakRss(),
    runtime: `onnxruntime-node ${require(path.join(__dirname, '..', 'node_modules',
      'onnxruntime-node', 'package.json')).version}`,
  };
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

main().catch((e) => {
  process.stderr.write(`ort_perf: ${e.message}\n`);
  process.exit(1);
});
