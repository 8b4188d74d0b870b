"""`lwm pack --layout lwm --no-shuffle` reproduces LWM's no_pad token stream,
and `--layout pad` LWM's pad mode with the off-by-one fixed, against the
independent Python reference in lwm_reference.py (spec lwm-format.md §1-4)."""
import json
import os
import random
import subprocess
import sys

import sentencepiece as spm

sys.path.insert(0, os.path.dirname(__file__))
import lwm_reference as ref  # noqa: E402

LWM = os.environ.get("LWM", "build/lwm")
TMP = os.environ.get("LWM_TMP", "/tmp")
SHARED = os.environ.get("LWM_SHARED_DATA", "")
SUITE = "loader/lwm_layout"


def report(name, ok, reason=""):
    print(f"ok {SUITE}/{name}" if ok else f"not ok {SUITE}/{name}: {reason}", flush=True)


def fixtures(rng):
    """Every modality and every part of the fields grammar."""
    def codes(frames):
        return [rng.randrange(8192) for _ in range(256 * frames)]
    words = "a dog cat runs jumps over the lazy fox what is shown here".split()

    def text(n):
        return " ".join(rng.choice(words) for _ in range(n))
    out = []
    for i in range(24):
        kind = i % 6
        if kind == 0:    # image-text (captioning) / text-image (generation), chosen per line
            out.append({"fields": ["[vision],caption", "[caption],vision"],
                        "vision": codes(1), "caption": text(5)})
        elif kind == 1:  # video with a question, joined fields and explicit bos/eos
            out.append({"fields": "[question+caption],vision_frames,<|eos|>",
                        "question": text(3), "caption": text(4), "vision_frames": codes(5)})
        elif kind == 2:  # text-only
            out.append({"fields": "text", "text": text(30)})
        elif kind == 3:  # text-video, several alternatives
            out.append({"fields": ["[caption],vision", "[vision],caption", "caption,[vision]",
                                   "[<|bos|>],caption,vision"],
                        "vision": codes(3), "caption": text(6)})
        elif kind == 4:  # unusual spacing is kept verbatim (no trimming)
            out.append({"fields": "[vision], caption", "vision": codes(2), " caption": text(4)})
        else:            # long text, spans several rows
            out.append({"fields": "[question],answer", "question": text(8), "answer": text(60)})
    return out


def run_pack(data, tok, *args):
    cmd = [LWM, "pack", data, "--tokenizer", tok, "--json"] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip())
    return [json.loads(line) for line in p.stdout.splitlines()]


KEYS = ["input_tokens", "target_tokens", "loss_masks", "input_vision_masks", "target_vision_masks"]


def compare(rows, expect):
    if len(rows) != len(expect):
        return f"{len(rows)} rows, expected {len(expect)}"
    for r, (got, want) in enumerate(zip(rows, expect)):
        for k in KEYS:
            g = [int(x) for x in got[k]]
            if g != [int(x) for x in want[k]]:
                i = next(j for j in range(len(g)) if j >= len(want[k]) or g[j] != want[k][j])
                return f"row {r} {k}[{i}]: got {g[i:i+5]}, expected {want[k][i:i+5]}"
    return ""


def check_tokenizer(name, tok, data, examples, seq_len, count, max_frames=-1):
    sp = spm.SentencePieceProcessor(model_file=tok)
    docs = [ref.process(sp, e, i, max_n_frames=max_frames) for i, e in enumerate(examples)]
    extra = ["--max-frames", str(max_frames)] if max_frames > 0 else []
    try:
        rows = run_pack(data, tok, "--layout", "lwm", "--no-shuffle", "--seq-len", str(seq_len),
                        "--count", str(count), *extra)
        report(f"{name}_no_pad_stream", *(lambda e: (not e, e))(
            compare(rows, ref.no_pad_rows(docs, seq_len, count))))
    except RuntimeError as e:
        report(f"{name}_no_pad_stream", False, str(e))
    try:
        rows = run_pack(data, tok, "--layout", "pad", "--no-shuffle", "--seq-len", str(seq_len),
                        "--count", str(len(examples)), *extra)
        report(f"{name}_pad_mode_fixed", *(lambda e: (not e, e))(
            compare(rows, ref.pad_rows(docs, seq_len, len(examples)))))
    except RuntimeError as e:
        report(f"{name}_pad_mode_fixed", False, str(e))


def main():
    rng = random.Random(1234)
    examples = fixtures(rng)
    data = os.path.join(TMP, "lwm.jsonl")
    ref.write_jsonl(data, examples)
    tiny = ref.train_tiny_spm(TMP)
    # One row per 257-token frame boundary and more: seq_len 300 crosses documents.
    check_tokenizer("tiny_spm", tiny, data, examples, 300, 40)
    check_tokenizer("tiny_spm_max_frames", tiny, data, examples, 517, 20, max_frames=2)

    # The delimiters come from the tokenizer: the tiny model's ids differ from LLaMA's.
    sp = spm.SentencePieceProcessor(model_file=tiny)
    one = os.path.join(TMP, "vision_only.jsonl")
    ref.write_jsonl(one, [{"fields": "[vision]", "vision": [5] * 256}])
    rows = run_pack(one, tiny, "--layout", "lwm", "--no-shuffle", "--seq-len", "8", "--count", "1")
    want = [1] + sp.encode("<vision>") + [5]
    got = rows[0]["input_tokens"][:len(want)]
    report("delimiters_from_tokenizer", got == want and want[1:4] != [529, 4924, 29958],
           f"got {got}, expected {want}")

    llama = os.path.join(SHARED, "tokenizer", "llama2-tokenizer.model") if SHARED else ""
    if llama and os.path.exists(llama):
        sp = spm.SentencePieceProcessor(model_file=llama)
        ok = sp.encode("<vision>") == [529, 4924, 29958] and sp.encode("</vision>") == [1533, 4924, 29958]
        report("llama2_delimiter_ids", ok, "LLaMA-2 delimiters differ from the spec")
        check_tokenizer("llama2", llama, data, examples, 1024, 12)
        # The C wrapper itself, against the Python binding, on the same text.
        text = {"fields": "text", "text": "The quick brown fox <vision> jumps </vision> über 東京 1234."}
        one = os.path.join(TMP, "one.jsonl")
        ref.write_jsonl(one, [text])
        rows = run_pack(one, llama, "--layout", "lwm", "--no-shuffle", "--seq-len", "8", "--count", "1")
        want = ([1] + sp.encode(text["text"]) + [2])
        stream = rows[0]["input_tokens"]
        report("llama2_c_wrapper_matches_python", stream == (want * 3)[:8], f"{stream} vs {want}")


if __name__ == "__main__":
    main()
