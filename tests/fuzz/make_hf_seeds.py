"""Writes the seeds of tests/fuzz/hf_checkpoint/ (run once; the files are committed).

usage: make_hf_seeds.py ROOT
The first byte of each seed picks what test_fuzz_hf_checkpoint.c replaces in its tiny model
(dim 8, 1 layer, 2 heads, ffn 8, vocab 6, vision 4): 0 config.json, 1 the shard index,
2 model.safetensors, 3 a trainer weights file with its __metadata__. Besides the valid files:
GQA, rope_scaling, a 1e300 field, an index escaping the directory or naming a missing shard,
NaN, BF16/F16 tensors, metadata that is not JSON or declares a huge model, a missing tokenizer.
"""
import json, os, struct, sys
import numpy as np
d = os.path.join(sys.argv[1] if len(sys.argv) > 1 else '.', 'tests', 'fuzz', 'hf_checkpoint')
os.makedirs(d, exist_ok=True)
def st(tensors, meta=None):
    h = {}
    if meta: h["__metadata__"] = meta
    off = 0
    tensors = {n: np.asarray(a, dtype="<f4") for n, a in tensors.items()}
    for n, a in tensors.items():
        h[n] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}; off += a.nbytes
    t = json.dumps(h).encode(); t += b" " * (-len(t) % 8)
    return struct.pack("<Q", len(t)) + t + b"".join(a.astype("<f4").tobytes() for a in tensors.values())
D, F, V, Vv = 8, 8, 6, 4
r = np.random.default_rng(0)
hf = {"model.embed_tokens.weight": r.normal(size=(V, D)), "model.layers.0.input_layernorm.weight": np.ones(D)}
for n in "qkvo": hf["model.layers.0.self_attn.%s_proj.weight" % n] = r.normal(size=(D, D))
hf["model.layers.0.post_attention_layernorm.weight"] = np.ones(D)
hf["model.layers.0.mlp.gate_proj.weight"] = r.normal(size=(F, D)); hf["model.layers.0.mlp.up_proj.weight"] = r.normal(size=(F, D))
hf["model.layers.0.mlp.down_proj.weight"] = r.normal(size=(D, F)); hf["model.norm.weight"] = np.ones(D)
hf["lm_head.weight"] = r.normal(size=(V, D)); hf["lwm.vision_head.weight"] = r.normal(size=(Vv, D))
open(os.path.join(d, 'weights_hf_valid'), 'wb').write(b'\x02' + st(hf))
bad = dict(hf); bad["model.norm.weight"] = np.array([1, 2, np.nan, 4, 5, 6, 7, 8.0])
open(os.path.join(d, 'weights_hf_nan'), 'wb').write(b'\x02' + st(bad))
lw = {"transformer.wte.embedding": r.normal(size=(V, D)), "transformer.vte.embedding": r.normal(size=(Vv, D))}
for n, s in [("attention_norm", (D,)), ("attention.wq", (D, D)), ("attention.wk", (D, D)), ("attention.wv", (D, D)),
             ("attention.wo", (D, D)), ("ffn_norm", (D,)), ("feed_forward.w1", (D, F)), ("feed_forward.w3", (D, F)), ("feed_forward.w2", (F, D))]:
    lw["transformer.h.0.%s.kernel" % n] = r.normal(size=s)
lw["transformer.ln_f.kernel"] = np.ones(D); lw["lm_head.kernel"] = r.normal(size=(D, V)); lw["vision_head.kernel"] = r.normal(size=(D, Vv))
meta = {"format": "lwm-train", "model": json.dumps({"dim": D, "layers": 1, "heads": 2, "ffn_dim": F, "text_vocab": V, "vision_vocab": Vv, "norm_eps": 1e-5}),
        "rope_theta": "10000", "seq_len": "16", "tokenizer": ""}
open(os.path.join(d, 'weights_lwm_valid'), 'wb').write(b'\x03' + st(lw, meta))
m2 = dict(meta); m2["model"] = json.dumps({"dim": 1 << 29, "layers": 200, "heads": 2, "ffn_dim": 1 << 29, "text_vocab": 1 << 29, "vision_vocab": 4, "norm_eps": 1e-5})
open(os.path.join(d, 'weights_lwm_huge_meta'), 'wb').write(b'\x03' + st(lw, m2))
m3 = dict(meta); m3["model"] = "{\"dim\": 8"
open(os.path.join(d, 'weights_lwm_bad_meta'), 'wb').write(b'\x03' + st(lw, m3))
m4 = dict(meta); m4["tokenizer"] = "/nonexistent/tok.model"
open(os.path.join(d, 'weights_lwm_tokenizer'), 'wb').write(b'\x03' + st(lw, m4))
def st16(tensors, dtype):
    h, off, blobs = {}, 0, []
    for n, a in tensors.items():
        a = np.asarray(a, dtype="<f4")
        b = a.astype("<f2").tobytes() if dtype == "F16" else (a.view("<u4") >> 16).astype("<u2").tobytes()
        h[n] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}; off += len(b); blobs.append(b)
    t = json.dumps(h).encode(); t += b" " * (-len(t) % 8)
    return struct.pack("<Q", len(t)) + t + b"".join(blobs)
open(os.path.join(d, 'weights_hf_bf16'), 'wb').write(b'\x02' + st16(hf, "BF16"))
open(os.path.join(d, 'weights_hf_f16'), 'wb').write(b'\x02' + st16(hf, "F16"))
open(os.path.join(d, 'weights_lwm_bf16'), 'wb').write(b'\x03' + st16(lw, "BF16"))
def put(name, b):
    open(os.path.join(d, name), 'wb').write(b)
cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8, "intermediate_size": 8,
       "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": 6,
       "rms_norm_eps": 1e-5, "rope_theta": 10000, "hidden_act": "silu", "tie_word_embeddings": False}
put('config_valid', b'\x00' + json.dumps(cfg).encode())
for name, key, value in [('config_gqa', "num_key_value_heads", 1), ('config_tied', "tie_word_embeddings", True),
                         ('config_huge', "hidden_size", 1e300), ('config_scaling', "rope_scaling", {"type": "linear"})]:
    c = dict(cfg); c[key] = value; put(name, b'\x00' + json.dumps(c).encode())
names = ["model.embed_tokens.weight", "model.layers.0.input_layernorm.weight", "model.layers.0.self_attn.q_proj.weight",
         "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight",
         "model.layers.0.post_attention_layernorm.weight", "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight",
         "model.layers.0.mlp.down_proj.weight", "model.norm.weight", "lm_head.weight"]
for name, file in [('index_valid', "model.safetensors"), ('index_traversal', "../../etc/passwd"),
                   ('index_missing_file', "model-2.safetensors")]:
    put(name, b'\x01' + json.dumps({"weight_map": {n: file for n in names}}).encode())
put('index_not_object', b'\x01' + b'{"weight_map": [1, 2]}')
