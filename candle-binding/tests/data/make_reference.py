#!/usr/bin/env python3
"""Independent reference for the regression test: all-MiniLM-L6-v2 in plain numpy.

It reads model.safetensors by hand, tokenizes with Hugging Face's Python
`tokenizers`, runs BERT (exact erf GELU), mean-pools over the attention mask
and L2-normalises — the sentence-transformers recipe — and writes
reference_embedding.json beside this file. The Rust test compares the library's
embedding with it within 1e-4.

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install numpy tokenizers
    /tmp/ref/bin/python candle-binding/tests/data/make_reference.py models/all-MiniLM-L6-v2
"""
import json
import math
import os
import struct
import sys

import numpy as np
from tokenizers import Tokenizer

SENTENCE = "The quick brown fox jumps over the lazy dog near the riverbank."


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=dtypes[meta["dtype"]]).reshape(meta["shape"])
    return out


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def embed(model_dir, text):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    w = {k: v.astype(np.float64) for k, v in load_safetensors(os.path.join(model_dir, "model.safetensors")).items()}
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    ids = tok.encode(text).ids
    n, heads, eps = len(ids), cfg["num_attention_heads"], cfg["layer_norm_eps"]
    h = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][:n]
         + w["embeddings.token_type_embeddings.weight"][0])
    h = layer_norm(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    d = h.shape[1] // heads
    lin = lambda x, p: x @ w[p + ".weight"].T + w[p + ".bias"]
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = lin(h, p + "attention.self.query").reshape(n, heads, d).transpose(1, 0, 2)
        k = lin(h, p + "attention.self.key").reshape(n, heads, d).transpose(1, 0, 2)
        v = lin(h, p + "attention.self.value").reshape(n, heads, d).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(n, heads * d)
        h = layer_norm(lin(ctx, p + "attention.output.dense") + h,
                       w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
        ff = lin(gelu(lin(h, p + "intermediate.dense")), p + "output.dense")
        h = layer_norm(ff + h, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    pooled = h.mean(0)  # one sentence, no padding: the mask is all ones
    return ids, pooled / np.linalg.norm(pooled)


if __name__ == "__main__":
    model_dir = sys.argv[1] if len(sys.argv) > 1 else "models/all-MiniLM-L6-v2"
    ids, e = embed(model_dir, SENTENCE)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_embedding.json")
    with open(out, "w") as f:
        json.dump({"model": "sentence-transformers/all-MiniLM-L6-v2", "sentence": SENTENCE,
                   "token_ids": ids, "embedding": [round(float(x), 7) for x in e]}, f, indent=1)
        f.write("\n")
    print(f"wrote {out}: {len(e)} dims, {len(ids)} tokens")
