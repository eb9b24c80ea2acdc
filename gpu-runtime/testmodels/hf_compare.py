"""Compare a testmodels BART folder with Hugging Face's own BART on the same weights.

For the day a GPU machine is lent (its image has Python transformers, torch,
onnx and onnxruntime); nothing here runs in the normal test suite, and it has
not been run yet. It loads the folder's ONNX initializers into
transformers.BartForConditionalGeneration (linear weights are stored [in, out]
in the ONNX files, so they are transposed back), then for every case of a
reference JSON (gpu-runtime/seq2seq/testdata/greedy-tiny.json, the
transformers.js outputs the Go code is proved equal to):

  * the first decoder step's logits: Hugging Face vs the reference, and
  * greedy generate() ids, up to each row's first EOS, vs the reference,

and prints the largest logit difference. Exit status 1 on any mismatch.

  go run ./gpu-runtime/testmodels/cmd/write-bart -o /tmp/tiny-bart
  python3 gpu-runtime/testmodels/hf_compare.py /tmp/tiny-bart gpu-runtime/seq2seq/testdata/greedy-tiny.json
"""
import json
import os
import sys

import onnx
import torch
from onnx import numpy_helper
from transformers import BartConfig, BartForConditionalGeneration


def initializers(path):
    m = onnx.load(path)
    return {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in m.graph.initializer}


def load(folder):
    cfg = BartConfig.from_pretrained(folder)
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
    return model


def main(folder, ref_path):
    model = load(folder)
    ref = json.load(open(ref_path))
    eos = model.config.eos_token_id
    worst, bad = 0.0, 0
    for c in ref["cases"]:
        ids = torch.tensor(c["input_ids"])
        mask = torch.tensor(c["attention_mask"])
        start = torch.full((ids.shape[0], 1), model.config.decoder_start_token_id)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, decoder_input_ids=start).logits[:, -1, :]
        want = torch.tensor(c["first_logits"]).reshape(logits.shape)
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
    sys.exit(1 if bad or worst > 1e-4 else 0)


if __name__ == "__main__":
    main(*sys.argv[1:3])
