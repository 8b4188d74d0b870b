# lwm pack: the CLI contract (JSON names, state files) and its bad-input cases.
SUITE=loader/pack_cli
. tests/lib.sh

cat >"$TMP/corpus.txt" <<'TXT'
a dog runs <vision> </vision> the cat jumps over a dog 0 1 2 3
the lazy fox <vision> runs </vision> what is shown here a cat
TXT
for i in $(seq 1 40); do cat "$TMP/corpus.txt"; done >"$TMP/corpus2.txt"
spm_train --input="$TMP/corpus2.txt" --model_prefix="$TMP/tiny" --vocab_size=60 \
    --hard_vocab_limit=false --minloglevel=2 >/dev/null 2>&1
TOK="$TMP/tiny.model"
$PY - "$TMP/data.jsonl" <<'PYEOF'
import json, random, sys
r = random.Random(3)
with open(sys.argv[1], "w") as f:
    for i in range(30):
        f.write(json.dumps({"id": f"s{i}", "fields": ["[caption],vision", "[vision],caption"],
                            "caption": "a dog runs", "vision": [r.randrange(8192) for _ in range(256 * (1 + i % 3))]}) + "\n")
PYEOF

expect_ok json_rows $LWM pack "$TMP/data.jsonl" --tokenizer "$TOK" --seq-len 512 --count 3 --json
names_ok() {
    $PY -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
need = ["input_tokens", "target_tokens", "loss_masks", "input_vision_masks", "target_vision_masks", "segment_ids", "positions"]
assert len(rows) == 3, len(rows)
for r in rows:
    for k in need:
        assert len(r[k]) == 512, (k, len(r[k]))
' "$TMP/json_rows.out"
}
check json_names_and_lengths "rows lack LWM's names or have wrong lengths" names_ok

# --state-out after 2 rows, then --state-in for 3 more == rows 2..4 of one run of 5.
$LWM pack "$TMP/data.jsonl" --tokenizer "$TOK" --seq-len 512 --count 5 --json --seed 9 2>/dev/null >"$TMP/five.json"
$LWM pack "$TMP/data.jsonl" --tokenizer "$TOK" --seq-len 512 --count 2 --json --seed 9 --state-out "$TMP/st" 2>/dev/null >/dev/null
$LWM pack "$TMP/data.jsonl" --tokenizer "$TOK" --seq-len 512 --count 3 --json --seed 9 --state-in "$TMP/st" 2>/dev/null >"$TMP/three.json"
strip() { $PY -c 'import json,sys; [print(json.dumps({k: v for k, v in json.loads(l).items() if k != "row"})) for l in open(sys.argv[1])]' "$1"; }
check state_out_in_continues "resumed rows differ from the uninterrupted run" \
    diff <(strip "$TMP/five.json" | tail -n 3) <(strip "$TMP/three.json")

expect_fail seed_mismatch "seed" $LWM pack "$TMP/data.jsonl" --tokenizer "$TOK" --seq-len 512 --count 1 --seed 1 --state-in "$TMP/st"
printf 'garbage' >"$TMP/bad_state"
expect_fail corrupt_state "bad_state" $LWM pack "$TMP/data.jsonl" --tokenizer "$TOK" --seq-len 512 --state-in "$TMP/bad_state"
echo '{"id":"x7","fields":"[vision],captoin","caption":"a dog","vision":[]}' >"$TMP/typo.jsonl"
expect_fail unknown_field "x7.*captoin|captoin.*x7" $LWM pack "$TMP/typo.jsonl" --tokenizer "$TOK" --seq-len 64
expect_fail no_tokenizer "tokenizer" $LWM pack "$TMP/data.jsonl" --seq-len 64
expect_fail missing_dataset "nope.jsonl" $LWM pack "$TMP/nope.jsonl" --tokenizer "$TOK" --seq-len 64
expect_fail frame_longer_than_row "frame does not fit" $LWM pack "$TMP/data.jsonl" --tokenizer "$TOK" --seq-len 200
expect_fail bad_layout "layout" $LWM pack "$TMP/data.jsonl" --tokenizer "$TOK" --seq-len 64 --layout nope
expect_ok readable $LWM pack "$TMP/data.jsonl" --tokenizer "$TOK" --seq-len 1024 --count 2
check readable_summarizes_vision "no frame summary in the readable output" grep -q "vision: [0-9]* frames" "$TMP/readable.out"
