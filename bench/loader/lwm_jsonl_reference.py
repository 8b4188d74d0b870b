"""LWM's JSONL data path re-implemented in Python (the comparison for bench/loader):
json.loads per line, VisionTextProcessor-style token lists (the layout of
tests/loader/lwm_reference.py, written from the spec, with NumPy for vision fields), no_pad concatenation into rows of seq_len + 1, NumPy batches.
Prints one JSON line with tokens/s."""
import json
import os
import random
import sys
import time

import numpy as np
import sentencepiece as spm



def process_fast(sp, example, index, open_ids, close_ids):
    """The same layout as ref.process, with NumPy for vision fields (a fair, fast Python)."""
    spec = example["fields"]
    if isinstance(spec, list):
        spec = random.Random(index).choice(spec)
    tokens, loss, vision = [1], [0], [0]
    for field in spec.split(","):
        m = 1
        if field.startswith("[") and field.endswith("]"):
            field, m = field[1:-1], 0
        if "vision" in field:
            frames = np.asarray(example[field], dtype=np.int32).reshape(-1, 256)
            ends = np.full((len(frames), 1), 8192, dtype=np.int32)
            ends[-1] = 8193
            codes = np.concatenate([frames, ends], axis=1).ravel().tolist()
            ids = open_ids + codes + close_ids
            tokens += ids
            loss += [m] * len(ids)
            vision += [0] * len(open_ids) + [1] * len(codes) + [0] * len(close_ids)
        else:
            ids = sp.encode(" ".join(example[k] for k in field.split("+")))
            tokens += ids
            loss += [m] * len(ids)
            vision += [0] * len(ids)
    return tokens + [2], loss + [1], vision + [0]


def main(path, tokenizer, seq_len, rows, max_tokens):
    sp = spm.SentencePieceProcessor(model_file=tokenizer)
    open_ids, close_ids = sp.encode("<vision>"), sp.encode("</vision>")
    t0 = time.perf_counter()
    tokens, loss, vision = [], [], []
    chunk = rows * seq_len
    done = 0
    with open(path) as f:
        for index, line in enumerate(f):
            t, l, v = process_fast(sp, json.loads(line), index, open_ids, close_ids)
            tokens += t
            loss += l
            vision += v
            while len(tokens) > chunk and done < max_tokens:
                batch = {
                    "input_tokens": np.array(tokens[:chunk], dtype=np.int32).reshape(rows, seq_len),
                    "target_tokens": np.array(tokens[1:chunk + 1], dtype=np.int32).reshape(rows, seq_len),
                    "loss_masks": np.array(loss[1:chunk + 1], dtype=np.float32).reshape(rows, seq_len),
                    "input_vision_masks": np.array(vision[:chunk], dtype=bool).reshape(rows, seq_len),
                    "target_vision_masks": np.array(vision[1:chunk + 1], dtype=bool).reshape(rows, seq_len),
                }
                tokens, loss, vision = tokens[chunk:], loss[chunk:], vision[chunk:]
                done += batch["input_tokens"].size
            if done >= max_tokens:
                break
    dt = time.perf_counter() - t0
    print(json.dumps({"reference": "python-lwm-jsonl", "tokens": done, "seconds": round(dt, 3),
                      "tokens_per_s": done / dt}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
