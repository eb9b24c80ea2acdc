// Reference chat-template renderings from @huggingface/jinja, the Jinja
// engine transformers.js's apply_chat_template uses.
//
//   node chat-render.mjs < CASES_JSON > OUT_JSON
//
// CASES_JSON is an array of {"config": PATH_TO_tokenizer_config.json,
// "messages": [{"role", "content"}...], "add_generation_prompt": bool}.
// Each config's chat_template is rendered as transformers.js does: with the
// messages, add_generation_prompt and the config's special tokens
// (bos_token, eos_token, pad_token, unk_token) as variables. The output is a
// JSON array of the rendered strings, one per case.
import { readFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const cases = JSON.parse(readFileSync(0, "utf8"));
const token = (v) => (v && typeof v === "object" ? v.content : v);
const out = cases.map((c) => {
  const cfg = JSON.parse(readFileSync(c.config, "utf8"));
  const vars = { messages: c.messages, add_generation_prompt: !!c.add_generation_prompt };
  for (const k of ["bos_token", "eos_token", "pad_token", "unk_token"]) {
    const v = token(cfg[k]);
    if (v != null) vars[k] = v;
  }
  return new Template(cfg.chat_template).render(vars);
});
process.stdout.write(JSON.stringify(out));
