"""Export grouped-query attention as PyTorch's ONNX exporter writes it.

A dev tool for fixtures (the product is Go): one Qwen2 decoder layer's
attention with transformers' own code paths — repeat_kv
(hidden_states[:, :, None, :, :].expand(...).reshape(...)), rotary
embeddings, the key/value cache concatenated on the sequence axis — and
an lm_head, exported by torch.onnx.export with dynamic batch, sequence
and past lengths, as Optimum exports decoder-only models. Two attention
forms: "eager" (transformers' Qwen2Attention: matmul(q, kᵀ) / √d),
"sdpa" (the graph torch.nn.functional.scaled_dot_product_attention
exports to: q and kᵀ each scaled by √(1/√d) before the product) and
"sdpa-shape" (the same with the scale computed from the query's shape,
as torch ≥ 2.1 exports it).
The "sdpa" file also keeps ONNX shape inference's value_info for the
intermediate values. Weights are small and seeded; the file is a test
fixture for
gpu-runtime/onnxpb's regrouping of the attention (torch_test.go).

    python3 tests/testkit/torch/export_gqa.py eager|sdpa|sdpa-shape OUT.onnx

Needs Debian's python3-torch (1.13) and python3-onnx.
"""
import math
import sys

import torch
from torch import nn

HIDDEN, HEADS, KV_HEADS, VOCAB = 32, 4, 2, 40
HEAD_DIM = HIDDEN // HEADS


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(hidden_states, n_rep):
    batch, num_key_value_heads, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_key_value_heads, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, num_key_value_heads * n_rep, slen, head_dim)


class Layer(nn.Module):
    def __init__(self, form):
        super().__init__()
        self.form = form
        self.q_proj = nn.Linear(HIDDEN, HEADS * HEAD_DIM, bias=True)
        self.k_proj = nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=True)
        self.v_proj = nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=True)
        self.o_proj = nn.Linear(HEADS * HEAD_DIM, HIDDEN, bias=False)
        self.lm_head = nn.Linear(HIDDEN, VOCAB, bias=False)
        inv = 1.0 / (10000 ** (torch.arange(0, HEAD_DIM, 2).float() / HEAD_DIM))
        t = torch.arange(64).float()
        emb = torch.cat((torch.outer(t, inv), torch.outer(t, inv)), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self, hidden, position_ids, mask, past_key, past_value):
        bsz, q_len, _ = hidden.size()
        q = self.q_proj(hidden).view(bsz, q_len, HEADS, HEAD_DIM).transpose(1, 2)
        k = self.k_proj(hidden).view(bsz, q_len, KV_HEADS, HEAD_DIM).transpose(1, 2)
        v = self.v_proj(hidden).view(bsz, q_len, KV_HEADS, HEAD_DIM).transpose(1, 2)
        cos = self.cos[position_ids].unsqueeze(1)
        sin = self.sin[position_ids].unsqueeze(1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = torch.cat([past_key, k], dim=-2)
        v = torch.cat([past_value, v], dim=-2)
        present_key, present_value = k, v
        k = repeat_kv(k, HEADS // KV_HEADS)
        v = repeat_kv(v, HEADS // KV_HEADS)
        if self.form == "eager":
            w = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(HEAD_DIM)
        elif self.form == "sdpa":
            s = math.sqrt(1 / math.sqrt(HEAD_DIM))
            w = torch.matmul(q * s, k.transpose(-2, -1) * s)
        else:
            # "sdpa-shape": the scale as torch ≥ 2.1's exporter computes it
            # for scaled_dot_product_attention, from the query's shape at
            # run time (Shape, Slice, Cast, Sqrt, Div, Sqrt)
            scale = 1.0 / torch.sqrt(torch._shape_as_tensor(q)[-1:].float())
            s = torch.sqrt(scale)
            w = torch.matmul(q * s, k.transpose(-2, -1) * s)
        w = nn.functional.softmax(w + mask, dim=-1, dtype=torch.float32)
        o = torch.matmul(w, v).transpose(1, 2).contiguous().reshape(bsz, q_len, HIDDEN)
        return self.lm_head(self.o_proj(o)), present_key, present_value


def main():
    form, out = sys.argv[1], sys.argv[2]
    torch.manual_seed(7)
    m = Layer(form).eval()
    b, s, p = 2, 3, 4
    args = (
        torch.randn(b, s, HIDDEN),
        torch.arange(p, p + s).repeat(b, 1),
        torch.zeros(b, 1, s, p + s),
        torch.randn(b, KV_HEADS, p, HEAD_DIM),
        torch.randn(b, KV_HEADS, p, HEAD_DIM),
    )
    torch.onnx.export(
        m, args, out, opset_version=14, do_constant_folding=True,
        input_names=["hidden", "position_ids", "mask", "past_key_values.0.key", "past_key_values.0.value"],
        output_names=["logits", "present.0.key", "present.0.value"],
        dynamic_axes={
            "hidden": {0: "batch_size", 1: "sequence_length"},
            "position_ids": {0: "batch_size", 1: "sequence_length"},
            "mask": {0: "batch_size", 2: "sequence_length", 3: "total_sequence_length"},
            "past_key_values.0.key": {0: "batch_size", 2: "past_sequence_length"},
            "past_key_values.0.value": {0: "batch_size", 2: "past_sequence_length"},
            "logits": {0: "batch_size", 1: "sequence_length"},
            "present.0.key": {0: "batch_size", 2: "total_sequence_length"},
            "present.0.value": {0: "batch_size", 2: "total_sequence_length"},
        },
    )
    if form == "sdpa":
        # this one keeps ONNX shape inference's value_info, as files that
        # went through onnx tooling after the export do
        import onnx

        model = onnx.load(out)
        onnx.save(onnx.shape_inference.infer_shapes(model), out)


if __name__ == "__main__":
    main()
