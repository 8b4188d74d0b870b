# lwm train --init and lwm export (issue 18) through the CLI: a briefly trained run exported
# as Hugging Face LLaMA and re-imported starts the same run bit for bit as the run's own
# weights; --init then one step equals the run whose init weights were exported and re-imported;
# the lwm format keeps the trainer's file; a curriculum run from an HF model exports the last
# stage's RoPE theta; the corpus's tokenizer must match the embedding and is copied by export.
SUITE=train/hf_weights
. tests/lib.sh
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
[ "${SAN:-}" = 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" # see test_train_cli.sh
REF="$PY tests/train/hf_llama_ref.py"

# The model of hf_llama_ref.py (dim 32, 4 heads, ffn 48, eps 1e-5); $2 = text vocabulary.
config() { # file, text_vocab, data object
    cat >"$1" <<EOF
{"model": {"dim": 32, "layers": 2, "heads": 4, "ffn_dim": 48, "text_vocab": $2, "vision_vocab": 48,
           "norm_eps": 1e-5},
 "optimizer": {"lr": 3e-3, "warmup_steps": 1},
 "train": {"attn_tile": 16, "chunk": 16},
 "stages": [{"seq_len": 64, "rope_theta": 10000, "tokens_per_batch": 128, "total_tokens": 256},
            {"seq_len": 128, "rope_theta": 400000, "tokens_per_batch": 256, "total_tokens": 256}],
 "data": $3}
EOF
}
train() { "$LWM" train --data "$TMP" --quiet "$@"; }
# 0 when two safetensors files hold the same tensors, byte for byte (metadata aside)
same_tensors() { $PY - "$1" "$2" <<'PYEOF'
import json, struct, sys
def load(p):
    raw = open(p, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]; h = json.loads(raw[8:8 + n])
    h.pop("__metadata__", None)
    return {k: raw[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]] for k, e in h.items()}
sys.exit(0 if load(sys.argv[1]) == load(sys.argv[2]) else 1)
PYEOF
}

config "$TMP/mixed.json" 64 '{"kind": "mixed"}'
expect_ok pretrain_2_steps train --config "$TMP/mixed.json" --out "$TMP/r0" --steps 2
expect_ok export_hf "$LWM" export "$TMP/r0" --format hf --out "$TMP/hf0"
expect_ok export_lwm "$LWM" export "$TMP/r0" --format lwm --out "$TMP/l0"
check export_lwm_is_the_run_file "l0 differs from r0" cmp -s "$TMP/l0/weights.safetensors" "$TMP/r0/weights.safetensors"
check hf_config_and_names "config.json or tensor names wrong" $PY - "$TMP/hf0" <<'PYEOF'
import json, struct, sys
c = json.load(open(sys.argv[1] + "/config.json"))
raw = open(sys.argv[1] + "/model.safetensors", "rb").read(); h = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
want = {"model.embed_tokens.weight": [64, 32], "model.layers.1.self_attn.q_proj.weight": [32, 32],
        "model.layers.0.mlp.down_proj.weight": [32, 48], "lm_head.weight": [64, 32],
        "lwm.vision_embed_tokens.weight": [48, 32], "lwm.vision_head.weight": [48, 32]}
meta = h.pop("__metadata__", {})
ok = all(h[k]["shape"] == v for k, v in want.items()) and len(h) == 2 + 2 * 9 + 3 and meta.get("format") == "pt"
ok &= c["model_type"] == "llama" and c["hidden_size"] == 32 and c["num_key_value_heads"] == 4
ok &= c["rope_theta"] == 10000 and c["max_position_embeddings"] == 64 and c["rms_norm_eps"] == 1e-5
sys.exit(0 if ok else 1)
PYEOF

# The same start three ways: HF export, the run's own weights, its lwm export.
expect_ok init_from_hf train --config "$TMP/mixed.json" --out "$TMP/a" --steps 1 --init "$TMP/hf0" --export-init "$TMP/a_init.safetensors"
expect_ok init_from_run train --config "$TMP/mixed.json" --out "$TMP/b" --steps 1 --init "$TMP/r0"
expect_ok init_from_lwm_file train --config "$TMP/mixed.json" --out "$TMP/c" --steps 1 --init "$TMP/l0/weights.safetensors"
check hf_init_is_the_run_weights "init weights differ from r0's" same_tensors "$TMP/a_init.safetensors" "$TMP/r0/weights.safetensors"
check hf_step_equals_run_step "one step from HF differs from one from the run's weights" cmp -s "$TMP/a/checkpoint.bin" "$TMP/b/checkpoint.bin"
check lwm_step_equals_run_step "one step from the lwm export differs" cmp -s "$TMP/c/checkpoint.bin" "$TMP/b/checkpoint.bin"
# --init then one step == the run whose init weights went out as HF and back in.
expect_ok export_init_weights "$LWM" export "$TMP/a_init.safetensors" --format hf --out "$TMP/hf1"
expect_ok init_from_reimport train --config "$TMP/mixed.json" --out "$TMP/e" --steps 1 --init "$TMP/hf1"
check reimported_step_bit_identical "weights after one step differ" cmp -s "$TMP/e/weights.safetensors" "$TMP/a/weights.safetensors"

# The curriculum from the HF model through both stages; the export carries stage 2's RoPE.
expect_ok curriculum_from_hf train --config "$TMP/mixed.json" --out "$TMP/f" --init "$TMP/hf0"
expect_ok export_after_curriculum "$LWM" export "$TMP/f" --format hf --out "$TMP/hf2"
check export_has_last_stage_theta "rope theta / context not stage 2's" $PY -c '
import json, sys; c = json.load(open(sys.argv[1]))
sys.exit(0 if c["rope_theta"] == 400000 and c["max_position_embeddings"] == 128 else 1)' "$TMP/hf2/config.json"

expect_fail init_and_resume_refused "give one of them" train --config "$TMP/mixed.json" --out "$TMP/b" --init "$TMP/hf0" --resume
expect_fail init_missing_named "no-such-model" train --config "$TMP/mixed.json" --out "$TMP/x" --init "$TMP/no-such-model"
config "$TMP/wide.json" 80 '{"kind": "mixed"}'
expect_fail init_vocab_field_named "vocab_size is 64, the training config has text_vocab 80" train --config "$TMP/wide.json" --out "$TMP/x" --init "$TMP/hf0"
expect_fail export_unknown_format "expected hf, lwm or lwm-jsonl" "$LWM" export "$TMP/r0" --format gguf --out "$TMP/x"
expect_fail export_not_a_run "weights.safetensors" "$LWM" export "$TMP" --format hf --out "$TMP/x"

# A corpus with its tokenizer: the embedding must have one row per piece; export copies it.
$PY -c "import sys; sys.path.insert(0, 'tests/loader'); import lwm_reference as r; r.train_tiny_spm('$TMP')"
pieces=$(spm_export_vocab --model="$TMP/tiny.model" | wc -l)
$PY -c '
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(30):
        f.write(json.dumps({"id": "t%d" % i, "fields": "text", "text": "the lazy fox runs over the dog " * 4}) + "\n")' "$TMP/corpus.jsonl"
data="{\"kind\": \"loader\", \"tokenizer\": \"$TMP/tiny.model\"}"
config "$TMP/spm_bad.json" 50 "$data"
config "$TMP/spm.json" "$pieces" "$data"
$REF make "$TMP/hf50" >/dev/null
$REF make "$TMP/hfspm" --vocab "$pieces" >/dev/null
expect_fail tokenizer_vocab_mismatch_refused "has $pieces pieces but the embedding of .*hf50 has 50 rows" "$LWM" train --config "$TMP/spm_bad.json" --data "$TMP/corpus.jsonl" --out "$TMP/x" --init "$TMP/hf50" --quiet
expect_ok tokenizer_vocab_match "$LWM" train --config "$TMP/spm.json" --data "$TMP/corpus.jsonl" --out "$TMP/s" --init "$TMP/hfspm" --steps 1 --quiet
check init_reports_new_vision_rows "no report of the vision init" grep -q "vision embedding \[48, 32\] and vision head \[32, 48\] are new" "$TMP/tokenizer_vocab_match.err"
expect_ok export_copies_tokenizer "$LWM" export "$TMP/s" --format hf --out "$TMP/hf_s"
check tokenizer_copied "tokenizer.model differs" cmp -s "$TMP/hf_s/tokenizer.model" "$TMP/tiny.model"
check tokenizer_config_written "no LlamaTokenizer config" $PY -c '
import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["tokenizer_class"] == "LlamaTokenizer" else 1)' "$TMP/hf_s/tokenizer_config.json"
