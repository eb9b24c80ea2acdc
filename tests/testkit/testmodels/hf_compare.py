"""Compare a testmodels BART folder with Hugging Face's own BART on the same weights.

For the day a GPU machine is lent (its image has Python transformers, torch,
onnx and onnxruntime); nothing here runs in the normal test suite, and it has
not been run yet. It loads the folder's ONNX initializers into
transformers.BartForConditionalGeneration (linear weights are stored [in, out]
in the ONNX files, so they are transposed back) and runs it with CUDA when
torch sees a GPU, else on the CPU (--device overrides). Two modes:

Greedy (default), against gpu-runtime/seq2seq/testdata/greedy-tiny.json (the
transformers.js outputs the Go code is proved equal to), for every case:

  * the first decoder step's logits: Hugging Face vs the reference, and
  * greedy generate() ids, up to each row's first EOS, vs the reference,

and prints the largest logit difference.

Beam (--beam REFS.json), against gpu-runtime/seq2seq/testdata/beam-tiny.json
(our seq2seq.Beam over a grid of settings, written by
tests/testkit/cmd/beam-refs): for every case, generate() with the
case's num_beams, length_penalty, early_stopping, no_repeat_ngram_size,
min_length, max_length, num_return_sequences, decoder_start_token_id and
forced BOS/EOS (-1: none), and compares the sequences exactly (up to each
row's first EOS after the decoder start token) and sequences_scores within
--atol (1e-4). It prints one line per case.

Exit status 1 on any mismatch, in either mode.

Commands (from the repository root). The tiny folder of the default seed
(1) is the one both JSON files were written from:

  go run ./tests/testkit/cmd/write-bart -o models/tiny-bart
  python3 tests/testkit/testmodels/hf_compare.py models/tiny-bart gpu-runtime/seq2seq/testdata/greedy-tiny.json
  python3 tests/testkit/testmodels/hf_compare.py models/tiny-bart --beam gpu-runtime/seq2seq/testdata/beam-tiny.json

The lent machine may have no Go: write the folder here (models/ is ignored
by git, the folder is about 330 KB) and send it along with the run (carry
["models/tiny-bart"]), then run there, as one command:

  python3 tests/testkit/testmodels/hf_compare.py models/tiny-bart gpu-runtime/seq2seq/testdata/greedy-tiny.json; \\
  python3 tests/testkit/testmodels/hf_compare.py models/tiny-bart --beam gpu-runtime/seq2seq/testdata/beam-tiny.json

When our beam search changes on purpose, regenerate beam-tiny.json with
`go run ./tests/testkit/cmd/beam-refs -o gpu-runtime/seq2seq/testdata/beam-tiny.json`
and rerun the beam mode before committing it.
"""
import argparse
import json
import os
import sys

import onnx
import torch
from onnx import numpy_helper
from transformers import BartConfig, BartForConditionalGeneration, GenerationConfig


def initializers(path):
    m = onnx.load(path)
    return {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in m.graph.initializer}


def load(folder, device):
    # Eager attention: the plain softmax(QK^T)V, the closest to the ONNX graphs.
    cfg = BartConfig.from_pretrained(folder, attn_implementation="eager")
    model = BartForConditionalGeneration(cfg).eval()
    w = initializers(os.path.join(folder, "onnx", "encoder_model.onnx"))
    w.update(initializers(os.path.join(folder, "onnx", "decoder_model_merged.onnx")))
    sd = {}
    for name, t in w.items():
        if name.startswith("const_"):
            continue
        if name.endswith("_proj.weight") or name.endswith("fc1.weight") or name.endswith("fc2.weight"):
            t = t.t().contiguous()  # [in, out] -> torch's [out, in]
        sd[name] = t
    for tied in ("model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight", "lm_head.weight"):
        sd[tied] = sd["model.shared.weight"]
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k not in sd]
    if missing or unexpected:
        sys.exit(f"weights do not map: missing {missing}, unexpected {unexpected}")
    return model.to(device)


def greedy(model, ref, device):
    eos = model.config.eos_token_id
    worst, bad = 0.0, 0
    for c in ref["cases"]:
        ids = torch.tensor(c["input_ids"], device=device)
        mask = torch.tensor(c["attention_mask"], device=device)
        start = torch.full((ids.shape[0], 1), model.config.decoder_start_token_id, device=device)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, decoder_input_ids=start).logits[:, -1, :]
        want = torch.tensor(c["first_logits"], device=device).reshape(logits.shape)
        worst = max(worst, (logits - want).abs().max().item())
        opts = {k: (None if v == -1 else v) for k, v in c["options"].items()}
        gen = model.generate(input_ids=ids, attention_mask=mask, num_beams=1, do_sample=False, **opts)
        for i, row in enumerate(gen.tolist()):
            exp = c["output_ids"][i]
            if eos in exp[1:]:
                exp = exp[: exp[1:].index(eos) + 2]
            if row[: len(exp)] != exp:
                bad += 1
                print(f"{c['name']} row {i}: HF {row} reference {exp}")
    print(f"max |first-step logit diff| HF vs reference = {worst:.3g}; {bad} rows differ")
    return bad == 0 and worst <= 1e-4


def until_eos(row, eos, pad):
    """row up to and including its first EOS after the decoder start token
    (what follows is padding); without one (a beam that reached
    max_length), the row less any trailing pad_token_id."""
    for i in range(1, len(row)):
        if row[i] in eos:
            return row[: i + 1]
    while len(row) > 1 and row[-1] == pad:
        row = row[:-1]
    return row


def none_if_negative(v):
    return None if v is None or v < 0 else v


def generation_config(s):
    """The case's settings as a complete GenerationConfig (nothing left to
    the model's defaults)."""
    eos = s["eos_token_id"]
    return GenerationConfig(
        do_sample=False,
        num_beams=s["num_beams"],
        length_penalty=s["length_penalty"],
        early_stopping=s["early_stopping"],  # True, False or "never"
        no_repeat_ngram_size=s["no_repeat_ngram_size"],
        min_length=s["min_length"],
        max_length=s["max_length"],
        num_return_sequences=s["num_return_sequences"],
        decoder_start_token_id=s["decoder_start_token_id"],
        forced_bos_token_id=none_if_negative(s["forced_bos_token_id"]),
        forced_eos_token_id=none_if_negative(s["forced_eos_token_id"]),
        eos_token_id=eos[0] if len(eos) == 1 else eos,
        pad_token_id=s["pad_token_id"],
        use_cache=True,
        output_scores=True,
        return_dict_in_generate=True,
    )


def beam(model, ref, device, atol):
    ok_cases, bad_cases, worst = 0, 0, 0.0
    print(f"{'case':<58} {'ids':>4} {'max|Δscore|':>12}  lengths (HF)")
    for c in ref["cases"]:
        s = c["settings"]
        eos, pad = set(s["eos_token_id"]), s["pad_token_id"]
        gc = generation_config(s)
        # generate() may fill a passed config's default-valued fields from
        # the model's own; the model's is the case's too, so nothing leaks
        # in from config.json (its forced_eos_token_id, say).
        model.generation_config = gc
        ids = torch.tensor(c["input_ids"], device=device)
        mask = torch.tensor(c["attention_mask"], device=device)
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=mask, generation_config=gc)
        rows = out.sequences.tolist()
        scores = out.sequences_scores.tolist() if getattr(out, "sequences_scores", None) is not None else None
        want_rows = c["sequences"]
        msgs = []
        if len(rows) != len(want_rows):
            msgs.append(f"{len(rows)} sequences, ours {len(want_rows)}")
        ids_ok = len(rows) == len(want_rows)
        for i, (got, want) in enumerate(zip(rows, want_rows)):
            g, w = until_eos(got, eos, pad), until_eos(want, eos, pad)
            if g != w:
                ids_ok = False
                msgs.append(f"row {i}: HF {g} ours {w}")
        diff = None
        if c.get("sequences_scores") is not None:
            if scores is None:
                msgs.append("HF returned no sequences_scores")
            elif len(scores) != len(c["sequences_scores"]):
                msgs.append(f"{len(scores)} HF scores, ours {len(c['sequences_scores'])}")
            else:
                diff = max(abs(a - b) for a, b in zip(scores, c["sequences_scores"]))
                worst = max(worst, diff)
                if diff > atol:
                    msgs.append(f"scores HF {[round(x, 6) for x in scores]} ours {[round(x, 6) for x in c['sequences_scores']]}")
        lengths = [len(until_eos(r, eos, pad)) for r in rows]
        dtext = "-" if diff is None else f"{diff:.2g}"
        print(f"{c['name']:<58} {'ok' if ids_ok else 'DIFF':>4} {dtext:>12}  {lengths}")
        for m in msgs:
            print(f"    {m}")
        if msgs:
            bad_cases += 1
        else:
            ok_cases += 1
    print(f"beam: {ok_cases} cases agree, {bad_cases} differ; max |sequences_scores diff| HF vs ours = {worst:.3g} (tolerance {atol:g})")
    return bad_cases == 0


def main():
    p = argparse.ArgumentParser(description="Compare a testmodels BART folder with transformers' BART.")
    p.add_argument("folder", help="folder written by tests/testkit/cmd/write-bart")
    p.add_argument("greedy_refs", nargs="?", help="greedy reference JSON (greedy-tiny.json)")
    p.add_argument("--beam", metavar="REFS.json", help="beam reference JSON written by cmd/beam-refs (beam-tiny.json)")
    p.add_argument("--atol", type=float, default=1e-4, help="tolerance on sequences_scores (default 1e-4)")
    p.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    a = p.parse_args()
    if not a.greedy_refs and not a.beam:
        p.error("give a greedy reference JSON, --beam REFS.json, or both")
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    # Full float32 matmuls on the GPU (no TF32), to compare against the CPU.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    import transformers

    print(f"transformers {transformers.__version__}, torch {torch.__version__}, device {device}")
    model = load(a.folder, device)
    ok = True
    if a.greedy_refs:
        with open(a.greedy_refs) as f:
            ok = greedy(model, json.load(f), device) and ok
    if a.beam:
        with open(a.beam) as f:
            ok = beam(model, json.load(f), device, a.atol) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
