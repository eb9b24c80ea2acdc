// Writes the tokenizer test strings, one JSON string per line, to stdout.
// Deterministic (seeded PRNG): the same file every run, so the committed
// fixture can be regenerated and diffed.
//
//   node gen-strings.mjs [count] > gpu-runtime/tokenizer/testdata/strings.jsonl

const count = Number(process.argv[2] ?? 1200);

// mulberry32: small, seedable, the same in every JavaScript engine.
let seed = 0x7a5c3e91;
function rand() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

const words = `the lecture today covers gradient descent and the backpropagation algorithm
we will see why convergence depends on learning rate so let's start with an example
professor Smith said that entropy isn't what you'd expect it's really about information
students should've read chapter three before Tuesday's lab they're going to need it
photosynthesis mitochondria eigenvalue Fourier transform Bayesian inference hypothesis
ok um so basically uh you know the key idea here is that we're minimizing a loss
I'll write this on the board QUESTION ANSWER Summary TL;DR Dr. Mrs. e.g. i.e. etc.`.split(/\s+/);

const specials = ["<s>", "</s>", "<pad>", "<unk>", "<mask>", "<|endoftext|>", "[CLS]", "[SEP]", "[MASK]",
  "[UNK]", "[PAD]", "<|im_start|>", "<|im_end|>", "<|startoftranscript|>", "<<s>>", "</s >", "<S>", "[cls]"];
const emoji = ["😀", "🎓", "👩‍🔬", "👍🏽", "🇫🇷", "❤️", "🧪", "🤖", "1️⃣", "👨‍👩‍👧‍👦", "✨", "🙂🙃", "🏳️‍🌈"];
const spaces = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \t ", "\u00a0", "\u3000", "\u2003", "\u200b", "\u2028", " \n \n "];
const accents = ["café", "naïve", "résumé", "Ångström", "piñata", "Müller", "façade", "São Paulo", "Dvořák",
  "Zürich", "crème brûlée", "e\u0301le\u0300ve", "A\u030a", "ﬁnance", "Ⅻ", "①", "ｆｕｌｌｗｉｄｔｈ", "Straße", "İstanbul"];
const scripts = ["机器学习是人工智能的一个分支", "今日は良い天気ですね", "カタカナ テスト", "안녕하세요 여러분",
  "Привет, как дела?", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "Γειά σου Κόσμε", "สวัสดีครับ", "Tiếng Việt có dấu",
  "中文，標點符號。", "混合 mixed 文本 text", "𠀀𠀁 rare CJK", "ｶﾀｶﾅ"];
const numbers = ["0", "7", "42", "123456789", "3.14159", "1,000,000", "-12.5e-3", "2024-11-27", "10:45:03",
  "$19.99", "50%", "1st 2nd 3rd 4th", "0x1F", "+1 (555) 010-9999", "½ ¾", "٣٤٥", "1234567890123456789012345"];
const code = ["func main() { fmt.Println(\"hi\") }", "for (let i = 0; i < n; i++) {}", "x = [a**2 for a in range(10)]",
  "SELECT * FROM t WHERE id=1;", "<div class=\"x\">&amp;</div>", "if err != nil {\n\treturn err\n}", "#include <stdio.h>",
  "https://example.org/path?q=1&r=two#frag", "user@example.com", "C:\\Users\\name\\file.txt", "{\"key\": [1, 2, null]}",
  "a->b => c :: d", "`backticks` ~tilde~ ^caret^ |pipe|", "snake_case camelCase PascalCase kebab-case SCREAMING_CASE"];
const punct = ["...", "!!!", "?!", "—", "–", "«quoted»", "“curly”", "‘single’", "(parens)", "[brackets]", "{braces}",
  "§", "©", "™", "°C", "±", "×", "÷", "→", "∑", "∞", "√2", "≈", "''", "\"\"", "'", "’s", "n't", "'ll", "'re", "'ve", "'m", "'d"];
const controls = ["\u0000", "\u0007", "\u001b[31m", "\u007f", "\ufeff", "\ufffd", "\u00ad"];

const pools = [
  () => pick(words),
  () => pick(words),
  () => pick(words),
  () => pick(specials),
  () => pick(emoji),
  () => pick(accents),
  () => pick(scripts),
  () => pick(numbers),
  () => pick(code),
  () => pick(punct),
];

function sentence() {
  const n = int(1, 14);
  let s = "";
  for (let i = 0; i < n; i++) {
    const glue = rand() < 0.8 ? " " : pick(spaces);
    const piece = rand() < 0.03 ? pick(controls) : pick(pools)();
    s += (i === 0 ? (rand() < 0.15 ? pick(spaces) : "") : glue) + piece;
  }
  if (rand() < 0.3) s += pick([".", "?", "!", " .", ",", ""]);
  if (rand() < 0.15) s += pick(spaces);
  return s;
}

const fixed = [
  "", " ", "  ", "\n", "\t\t", "a", "A", "I", ".", "Hello world", " Hello world", "Hello  world", "hello\nworld",
  "<s>", "</s>", "<s>Hello</s>", "text<mask>text", "<|endoftext|>", "a<|endoftext|>b", "[CLS] x [SEP]", "[MASK]",
  "don't won't can't I'm you're we've they'll she'd", "HELLO WORLD", "😀", "🇫🇷🇩🇪", "\u00e9", "e\u0301",
  "x".repeat(150), "supercalifragilisticexpialidocious", "antidisestablishmentarianism".repeat(5),
  "   leading and trailing   ", "The lecture starts at 10:15 and covers sections 2.1–2.4.",
  "In today's lecture, we'll discuss eigenvalues (λ) and eigenvectors (v): Av = λv.",
];

const out = [...fixed];
while (out.length < count) {
  const k = int(1, 3);
  const parts = [];
  for (let i = 0; i < k; i++) parts.push(sentence());
  out.push(parts.join(rand() < 0.7 ? " " : pick(spaces)));
}
for (const s of out.slice(0, count)) process.stdout.write(JSON.stringify(s) + "\n");
