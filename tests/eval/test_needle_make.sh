# lwm needle make (issue 17): samples are exactly LENGTH positions as the loader lays them out
# (lwm pack --layout pad, and SentencePiece's Python binding counting the fields), the needle
# sits within one sentence of its depth, the answer appears nowhere else, the same seed gives
# the same file, and bad options fail naming what is wrong.
SUITE=eval/needle_make
. tests/lib.sh
. tests/eval/fixture.sh
D=$TMP/needle
mkdir -p "$D"
eval_tokenizer "$D" tok 200
TOK=$D/tok.model

expect_ok make "$LWM" needle make --tokenizer "$TOK" --lengths 96,160 --depths 0,0.25,0.5,0.75,1 \
    --per-cell 2 --seed 5 --out "$D/a.jsonl" --quiet
expect_ok make_again "$LWM" needle make --tokenizer "$TOK" --lengths 96,160 --depths 0,0.25,0.5,0.75,1 \
    --per-cell 2 --seed 5 --out "$D/b.jsonl" --quiet
expect_ok make_other_seed "$LWM" needle make --tokenizer "$TOK" --lengths 96,160 \
    --depths 0,0.25,0.5,0.75,1 --per-cell 2 --seed 6 --out "$D/c.jsonl" --quiet
check seeded_runs_identical "same seed, different files" cmp -s "$D/a.jsonl" "$D/b.jsonl"
check other_seed_differs "another seed gave the same file" test -n "$(cmp "$D/a.jsonl" "$D/c.jsonl" 2>&1)"
expect_ok multi "$LWM" needle make --tokenizer "$TOK" --lengths 160 --depths 0.5 --per-cell 3 \
    --needles 3 --ask-all --seed 2 --out "$D/m.jsonl" --quiet

# The loader's own layout of every sample: pad layout, one sample per row, rows longer than
# any sample so that padding shows where the sample ends.
expect_ok pack "$LWM" pack "$D/a.jsonl" --tokenizer "$TOK" --layout pad --no-shuffle --seq-len 200 \
    --count 20 --json
expect_ok pack_multi "$LWM" pack "$D/m.jsonl" --tokenizer "$TOK" --layout pad --no-shuffle \
    --seq-len 200 --count 3 --json

$PY - "$D" "$TMP/pack.out" "$TMP/pack_multi.out" <<'PYEOF'
import json, re, sys
import sentencepiece as spm
d, packed, packed_multi = sys.argv[1:]
sp = spm.SentencePieceProcessor(model_file=f"{d}/tok.model")
enc = lambda s: sp.encode(s)
def report(name, ok, why):
    print(f"ok eval/needle_make/{name}" if ok else f"not ok eval/needle_make/{name}: {why}")

def check(lines, rows, tag):
    bad_len, bad_layout, bad_depth, bad_unique = [], [], [], []
    for j, r in zip(lines, rows):
        L = j["length"]
        # Independent count: BOS, each field on its own, EOS = L + 1 tokens = L positions.
        n = 2 + len(enc(j["haystack"])) + len(enc(j["question"])) + len(enc(j["answer"]))
        used = sum(1 for s in r["segment_ids"] if s)
        if n != L + 1 or used != L:
            bad_len.append((j["id"], L, n - 1, used))
        loss = [i for i, m in enumerate(r["loss_masks"]) if m]
        ans = r["target_tokens"][loss[0]:loss[-1]]
        if sp.decode(ans) != j["answer"] or loss != list(range(L - len(ans) - 1, L)):
            bad_layout.append(j["id"])
        h = j["haystack"]
        for num in re.findall(r"\d{7}", j["answer"]):
            if h.count(num) != 1 or num in j["question"]:
                bad_unique.append((j["id"], num))
        if tag != "single":
            continue
        # Depth: the needle starts at a sentence boundary within one sentence of depth x filler.
        needle = re.search(r"The special magic \w+ number is: \d{7}\.", h)
        before, after = h[:needle.start()].strip(), h[needle.end():].strip()
        at = len(enc(before)) if before else 0
        filler = len(enc(h)) - len(enc(needle.group(0)))
        prev = re.split(r"(?<=[.?!]) ", before)[-1] if before else ""
        nxt = re.split(r"(?<=[.?!]) ", after)[0] if after else ""
        slack = max(len(enc(prev)) if prev else 0, len(enc(nxt)) if nxt else 0)
        at_boundary = not before or before[-1] in ".?!" or not after
        if abs(at - j["depth"] * filler) > slack or not at_boundary:
            bad_depth.append((j["id"], at, j["depth"] * filler, slack))
    report(f"{tag}_exact_lengths", not bad_len and len(rows) == len(lines), f"(id, length, tokens, loader positions) {bad_len[:3]}")
    report(f"{tag}_loss_on_answer_only", not bad_layout, f"{bad_layout[:3]}")
    report(f"{tag}_answer_unique", not bad_unique, f"{bad_unique[:3]}")
    if tag == "single":
        report("needle_within_one_sentence_of_depth", not bad_depth, f"(id, at, target, sentence) {bad_depth[:3]}")

lines = [json.loads(l) for l in open(f"{d}/a.jsonl")]
rows = [json.loads(l) for l in open(packed)]
report("cells", [(j["length"], j["depth"]) for j in lines][::2] ==
       [(L, x) for L in (96, 160) for x in (0, 0.25, 0.5, 0.75, 1)], "cells not length-major")
check(lines, rows, "single")
multi = [json.loads(l) for l in open(f"{d}/m.jsonl")]
check(multi, [json.loads(l) for l in open(packed_multi)], "multi")
nums = [re.findall(r"\d{7}", j["answer"]) for j in multi]
report("multi_asks_all", all(len(n) == 3 and len(set(n)) == 3 for n in nums) and
       all(j["question"].startswith("What are the special magic numbers for") for j in multi), f"{nums}")
PYEOF

# The LLaMA-2 tokenizer, when the shared data is there.
LLAMA=$SHARED_DATA/tokenizer/llama2-tokenizer.model
if [ -f "$LLAMA" ]; then
    expect_ok llama_make "$LWM" needle make --tokenizer "$LLAMA" --lengths 1024,2048 --depths 0,0.5,1 \
        --seed 1 --out "$D/l.jsonl" --quiet
    "$LWM" pack "$D/l.jsonl" --tokenizer "$LLAMA" --layout pad --no-shuffle --seq-len 2100 --count 6 \
        --json 2>/dev/null | $PY -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
lines = [json.loads(l) for l in open(sys.argv[1])]
ok = len(rows) == 6 and all(sum(1 for s in r["segment_ids"] if s) == j["length"] for r, j in zip(rows, lines))
print("ok eval/needle_make/llama_exact_lengths" if ok else "not ok eval/needle_make/llama_exact_lengths: loader positions differ")
' "$D/l.jsonl"
fi

expect_fail bad_depth 'depth 1.5 outside \[0, 1\]' \
    "$LWM" needle make --tokenizer "$TOK" --lengths 96 --depths 1.5 --out "$D/x.jsonl"
expect_fail too_short 'length 24.*too short' \
    "$LWM" needle make --tokenizer "$TOK" --lengths 24 --depths 0 --out "$D/x.jsonl"
expect_fail missing_haystack "$D/none.txt" \
    "$LWM" needle make --tokenizer "$TOK" --haystack "$D/none.txt" --lengths 96 --depths 0 --out "$D/x.jsonl"
expect_fail bad_lengths '--lengths: cannot read' \
    "$LWM" needle make --tokenizer "$TOK" --lengths 96,abc --depths 0 --out "$D/x.jsonl"
check nothing_written_on_error "x.jsonl exists" test ! -e "$D/x.jsonl"
