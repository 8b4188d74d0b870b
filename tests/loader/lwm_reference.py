"""An independent re-implementation of LWM's training-time sequence layout,
written from ../shared/spec/lwm-format.md (§1-4), for comparing token streams
with `lwm pack`. Uses the SentencePiece Python binding and NumPy only.
"""
import json
import random
import subprocess

import numpy as np

BOS, EOS, EOF_ID, EOV_ID = 1, 2, 8192, 8193


def encode(sp, text):
    # Training-time LWM: the tokenizer adds no BOS (spec §1.4).
    return list(sp.encode(text))


def process(sp, example, index, max_n_frames=-1, fields_index=-1, sep=" "):
    """One JSON line -> (tokens, loss_mask, vision_mask), spec §2-3."""
    spec = example["fields"]
    if isinstance(spec, list):
        spec = spec[fields_index] if fields_index >= 0 else random.Random(index).choice(spec)
    tokens, loss, vision = [BOS], [0], [0]

    def add(ids, m, v):
        tokens.extend(ids)
        loss.extend([m] * len(ids))
        vision.extend([v] * len(ids))

    for field in spec.split(","):
        m = 1
        if field.startswith("[") and field.endswith("]"):
            field, m = field[1:-1], 0
        if field == "<|bos|>":
            add([BOS], m, 0)
        elif field == "<|eos|>":
            add([EOS], m, 0)
        elif "vision" in field:  # LWM's own test; fixtures name vision keys accordingly
            frames = np.asarray(example[field], dtype=np.int64).reshape(-1, 256)
            if 0 < max_n_frames < len(frames):
                frames = frames[np.linspace(0, len(frames) - 1, max_n_frames).astype(int)]
            add(encode(sp, "<vision>"), m, 0)
            for i, frame in enumerate(frames):
                add(list(frame) + [EOF_ID if i < len(frames) - 1 else EOV_ID], m, 1)
            add(encode(sp, "</vision>"), m, 0)
        else:
            add(encode(sp, sep.join(example[k] for k in field.split("+"))), m, 0)
    add([EOS], 1, 0)
    return tokens, loss, vision


def no_pad_rows(docs, seq_len, n_rows):
    """LWM's no_pad mode: concatenate (looping over the data), windows of L+1 (spec §4)."""
    stream_t, stream_l, stream_v = [], [], []
    i = 0
    while len(stream_t) < n_rows * seq_len + 1:
        t, l, v = docs[i % len(docs)]
        stream_t += t
        stream_l += l
        stream_v += v
        i += 1
    rows = []
    for r in range(n_rows):
        a, b = r * seq_len, (r + 1) * seq_len
        rows.append({
            "input_tokens": stream_t[a:b],
            "target_tokens": stream_t[a + 1:b + 1],
            "loss_masks": stream_l[a + 1:b + 1],
            "input_vision_masks": stream_v[a:b],
            "target_vision_masks": stream_v[a + 1:b + 1],
        })
    return rows


def pad_rows(docs, seq_len, n_rows):
    """Pad mode with the §9 off-by-one fixed: cut to L+1, shift once, fill with id 1."""
    rows = []
    for r in range(n_rows):
        t, l, v = docs[r % len(docs)]
        t, l, v = t[:seq_len + 1], l[:seq_len + 1], v[:seq_len + 1]
        n = len(t) - 1
        fill = seq_len - n
        rows.append({
            "input_tokens": t[:-1] + [1] * fill,
            "target_tokens": t[1:] + [1] * fill,
            "loss_masks": l[1:] + [0] * fill,
            "input_vision_masks": v[:-1] + [0] * fill,
            "target_vision_masks": v[1:] + [0] * fill,
        })
    return rows


def train_tiny_spm(workdir, vocab_size=120):
    """Trains a small SentencePiece model with Debian's spm_train (unk 0, bos 1, eos 2)."""
    corpus = f"{workdir}/spm_corpus.txt"
    words = ("a dog cat runs jumps over the lazy fox video image caption question answer "
             "what is shown here <vision> </vision> hello world number story of frames").split()
    rng = random.Random(7)
    with open(corpus, "w") as f:
        for _ in range(400):
            f.write(" ".join(rng.choice(words) for _ in range(12)) + "\n")
    prefix = f"{workdir}/tiny"
    subprocess.run(["spm_train", f"--input={corpus}", f"--model_prefix={prefix}",
                    f"--vocab_size={vocab_size}", "--model_type=unigram",
                    "--character_coverage=1.0", "--hard_vocab_limit=false", "--minloglevel=2"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return prefix + ".model"


def write_jsonl(path, examples):
    with open(path, "w") as f:
        for e in examples:
            f.write(json.dumps(e) + "\n")
