#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write a random-weight LLaMA model as GGUF v3 (F32, F16, Q8_0 or Q4_0), by hand.

Deterministic: the same arguments give the same bytes (numpy's PCG64 with a fixed
seed). The vocabulary is SentencePiece-style: <unk>, <s>, </s>, the 256 byte pieces
<0x00>..<0xFF>, then made-up pieces "▁a", "▁b", ... with falling scores.

  make_gguf.py OUT.gguf --type q4_0 [--dim 768 --layers 12 --ffn 2048 --heads 12
               --kv-heads 12 --vocab 32000 --ctx 2048 --seed 1]

Used by bench/llm/run.sh (the ~100M-parameter benchmark model) and by
tests/serve/test_openai.sh (a small model slow enough to cancel mid-stream).
"""
import argparse
import struct
import sys

import numpy as np

GGML = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 8}


def s_str(b):
    b = b.encode() if isinstance(b, str) else b
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, payload):
    return s_str(key) + struct.pack("<I", vtype) + payload


def kv_u32(k, v):
    return kv(k, 4, struct.pack("<I", v))


def kv_f32(k, v):
    return kv(k, 6, struct.pack("<f", v))


def kv_str(k, v):
    return kv(k, 8, s_str(v))


def kv_bool(k, v):
    return kv(k, 7, struct.pack("<B", 1 if v else 0))


def kv_arr(k, etype, items):
    body = struct.pack("<IQ", etype, len(items))
    if etype == 8:
        body += b"".join(s_str(x) for x in items)
    elif etype == 6:
        body += np.asarray(items, dtype="<f4").tobytes()
    elif etype == 5:
        body += np.asarray(items, dtype="<i4").tobytes()
    return kv(k, 9, body)


def round_half_away(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def q8_0(w):
    rows, cols = w.shape
    b = w.reshape(rows, cols // 32, 32)
    amax = np.abs(b).max(axis=2)
    d = (amax / 127.0).astype(np.float32)
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0).astype(np.float32)
    q = round_half_away(b * inv[:, :, None]).astype(np.int8)
    out = np.zeros((rows, cols // 32), dtype=[("d", "<f2"), ("qs", "i1", 32)])
    out["d"] = d.astype(np.float16)
    out["qs"] = q
    return out.tobytes()


def q4_0(w):
    rows, cols = w.shape
    b = w.reshape(rows, cols // 32, 32)
    idx = np.abs(b).argmax(axis=2)
    mx = np.take_along_axis(b, idx[:, :, None], axis=2)[:, :, 0]  # signed max-magnitude value
    d = (mx / -8.0).astype(np.float32)
    inv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(np.float32)
    q = np.minimum(15, np.trunc(b * inv[:, :, None] + 8.5)).astype(np.uint8)
    packed = (q[:, :, :16] | (q[:, :, 16:] << 4)).astype(np.uint8)
    out = np.zeros((rows, cols // 32), dtype=[("d", "<f2"), ("qs", "u1", 16)])
    out["d"] = d.astype(np.float16)
    out["qs"] = packed
    return out.tobytes()


def encode(w, t):
    if t == "f32":
        return w.astype("<f4").tobytes()
    if t == "f16":
        return w.astype("<f2").tobytes()
    if t == "q8_0":
        return q8_0(w)
    return q4_0(w)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--type", choices=sorted(GGML), default="f32")
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--ffn", type=int, default=2048)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--kv-heads", type=int, default=12)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.vocab < 300 or a.dim % a.heads or a.heads % a.kv_heads or a.dim % 32 or a.ffn % 32:
        sys.exit("make_gguf.py: inconsistent sizes")
    rng = np.random.Generator(np.random.PCG64(a.seed))
    hd = a.dim // a.heads
    kvd = hd * a.kv_heads

    toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)]
    types = [2, 3, 3] + [6] * 256
    letters = "abcdefghijklmnopqrstuvwxyz"
    i = 0
    while len(toks) < a.vocab:
        n, s = i, ""
        while True:
            s = letters[n % 26] + s
            n = n // 26 - 1
            if n < 0:
                break
        toks.append("\u2581" + s)
        types.append(1)
        i += 1
    scores = [0.0] * 259 + [-float(k) for k in range(a.vocab - 259)]

    meta = [
        kv_str("general.architecture", "llama"),
        kv_str("general.name", "random-llama-%dd%dl" % (a.dim, a.layers)),
        kv_u32("general.alignment", 32),
        kv_u32("llama.context_length", a.ctx),
        kv_u32("llama.embedding_length", a.dim),
        kv_u32("llama.block_count", a.layers),
        kv_u32("llama.feed_forward_length", a.ffn),
        kv_u32("llama.attention.head_count", a.heads),
        kv_u32("llama.attention.head_count_kv", a.kv_heads),
        kv_u32("llama.rope.dimension_count", hd),
        kv_f32("llama.rope.freq_base", 10000.0),
        kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5),
        kv_u32("llama.vocab_size", a.vocab),
        kv_str("tokenizer.ggml.model", "llama"),
        kv_arr("tokenizer.ggml.tokens", 8, toks),
        kv_arr("tokenizer.ggml.scores", 6, scores),
        kv_arr("tokenizer.ggml.token_type", 5, types),
        kv_u32("tokenizer.ggml.bos_token_id", 1),
        kv_u32("tokenizer.ggml.eos_token_id", 2),
        kv_u32("tokenizer.ggml.unknown_token_id", 0),
        kv_bool("tokenizer.ggml.add_bos_token", True),
    ]

    # (name, shape as (rows=out, cols=in) or (n,), is_matrix); output tied to token_embd
    specs = [("token_embd.weight", (a.vocab, a.dim), True)]
    for l in range(a.layers):
        p = "blk.%d." % l
        specs += [
            (p + "attn_norm.weight", (a.dim,), False),
            (p + "attn_q.weight", (a.dim, a.dim), True),
            (p + "attn_k.weight", (kvd, a.dim), True),
            (p + "attn_v.weight", (kvd, a.dim), True),
            (p + "attn_output.weight", (a.dim, a.dim), True),
            (p + "ffn_norm.weight", (a.dim,), False),
            (p + "ffn_gate.weight", (a.ffn, a.dim), True),
            (p + "ffn_down.weight", (a.dim, a.ffn), True),
            (p + "ffn_up.weight", (a.ffn, a.dim), True),
        ]
    specs.append(("output_norm.weight", (a.dim,), False))

    blobs, infos, off = [], [], 0
    for name, shape, mat in specs:
        if mat:
            w = (rng.standard_normal(shape, dtype=np.float32) * (1.0 / np.sqrt(shape[1])))
            t = a.type
        else:
            w = 1.0 + 0.1 * rng.standard_normal(shape, dtype=np.float32)
            t = "f32"
        data = encode(w.astype(np.float32), t)
        ne = shape[::-1]  # GGUF lists the row length first
        infos.append(s_str(name) + struct.pack("<I", len(ne)) +
                     b"".join(struct.pack("<Q", x) for x in ne) +
                     struct.pack("<IQ", GGML[t], off))
        pad = (-len(data)) % 32
        blobs.append(data + b"\0" * pad)
        off += len(data) + pad

    head = b"GGUF" + struct.pack("<IQQ", 3, len(specs), len(meta)) + b"".join(meta) + b"".join(infos)
    head += b"\0" * ((-len(head)) % 32)
    with open(a.out, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    main()
