#!/usr/bin/python3
"""Regenerates the reference files the Go tests in shared/eval check against.

Development tool only; run from anywhere with Debian's Python and NLTK:

    apt-get install -y python3-nltk
    /usr/bin/python3 shared/eval/testdata/gen_reference.py [DATA_DIR]

DATA_DIR defaults to ../shared/data next to the repository root
(/work/shared/data). Writes, next to this script:

  porter_reference.tsv   word <TAB> nltk PorterStemmer().stem(word)
  rouge_reference.jsonl  one {"name", "ref", "cand", "rouge1", ...} per line

The `rouge-score` package itself is not installable here, so the ROUGE values
come from the small independent re-implementation below of its algorithm
(rouge_scorer.RougeScorer(..., use_stemmer=True)), using NLTK's real
PorterStemmer for the stems.
"""

import collections
import json
import os
import random
import re
import sys

import nltk
from nltk.stem.porter import PorterStemmer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "..", "shared", "data")
STEMMER = PorterStemmer()  # default mode: NLTK_EXTENSIONS

# ---------------------------------------------------------------- tokenizer


def tokens_of(text):
    """rouge_score's default tokenizer with use_stemmer=True."""
    spaced = re.sub(r"[^a-z0-9]+", " ", text.lower())
    out = []
    for w in spaced.split(" "):
        if len(w) > 3:
            w = STEMMER.stem(w)
        if re.fullmatch(r"[a-z0-9]+", w):
            out.append(w)
    return out


# ------------------------------------------------------------------ scoring


def prf(hits, n_pred, n_target):
    p = hits / max(n_pred, 1)
    r = hits / max(n_target, 1)
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return [p, r, f]


def ngram_score(target, pred, n):
    def grams(toks):
        return collections.Counter(tuple(toks[k:k + n]) for k in range(len(toks) - n + 1))

    t, p = grams(target), grams(pred)
    overlap = sum(min(c, p[g]) for g, c in t.items())
    return prf(overlap, sum(p.values()), sum(t.values()))


def dp_table(a, b):
    """LCS lengths: tab[i][j] is the LCS length of a[:i] and b[:j]."""
    tab = [[0] * (len(b) + 1)]
    for i in range(1, len(a) + 1):
        row = [0]
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                row.append(tab[i - 1][j - 1] + 1)
            else:
                row.append(max(tab[i - 1][j], row[j - 1]))
        tab.append(row)
    return tab


def lcs_score(target, pred):
    if not target or not pred:
        return [0.0, 0.0, 0.0]
    length = dp_table(target, pred)[-1][-1]
    return prf(length, len(pred), len(target))


def lcs_positions(ref, cand):
    """Positions in ref of the LCS that rouge_score's backtrack picks."""
    tab = dp_table(ref, cand)
    i, j, picked = len(ref), len(cand), set()
    while i and j:
        if ref[i - 1] == cand[j - 1]:
            picked.add(i - 1)
            i, j = i - 1, j - 1
        elif tab[i][j - 1] > tab[i - 1][j]:
            j -= 1
        else:
            i -= 1
    return picked


def lsum_score(target_text, pred_text):
    def sents(text):
        return [tokens_of(line) for line in text.split("\n") if line]

    refs, cands = sents(target_text), sents(pred_text)
    m = sum(len(s) for s in refs)
    n = sum(len(s) for s in cands)
    if not refs or not cands or not m or not n:
        return [0.0, 0.0, 0.0]
    left_r = collections.Counter(t for s in refs for t in s)
    left_c = collections.Counter(t for s in cands for t in s)
    hits = 0
    for r in refs:
        union = set()
        for c in cands:
            union |= lcs_positions(r, c)
        for pos in sorted(union):
            tok = r[pos]
            if left_r[tok] > 0 and left_c[tok] > 0:
                hits += 1
                left_r[tok] -= 1
                left_c[tok] -= 1
    return prf(hits, n, m)


def rouge_all(target, pred):
    tt, pt = tokens_of(target), tokens_of(pred)
    return {
        "rouge1": ngram_score(tt, pt, 1),
        "rouge2": ngram_score(tt, pt, 2),
        "rougeL": lcs_score(tt, pt),
        "rougeLsum": lsum_score(target, pred),
    }


# ------------------------------------------------------------------- inputs

TRICKY = """
sky skies dying lying tying news innings inning outings outing cannings canning
howe proceed exceed succeed proceeding exceeded succeeds dies flies died spied
ties lies cries tries agreed feed bleed needed speed hopping hopped falling
hissing fizzed failing filing tanned sized conflated troubled motoring sing
plastered bled happy enjoy enjoying spy fly try toy boy say syzygy yy yyy y by
caresses ponies caress cats relational conditional rational valenci hesitanci
digitizer conformabli radicalli differentli vileli analogousli vietnamization
predication operator feudalism decisiveness hopefulness callousness formaliti
sensitiviti sensibiliti triplicate formative formalize electriciti electrical
hopeful goodness revival allowance inference airliner gyroscopic adjustable
defensible irritant replacement adjustment dependent adoption homologou
communism activate angulariti homologous effective bowdlerize probate rate cease
controll roll generalli generically fulli hopefulli carefulli archaeology
geology theology biology logi ology apology analogies apologies archaeological
agreement agree agreeing disagreement settlement movement element statement
ied eed ies sses ss s is as us was has his its a i o ed ing ings aed oed
anything nothing something everything bring king thing string spring ring
abilities ability stability responsibility possibilities sensibilities
nationalism rationalization organization organizational organizations
conditionally traditionally additionally emotionally fully really badly
mp3 mp3s 1990s 2015 covid19 g7 b2b 4x4 3d 100m u2 ai aids ngo ngos
yelling yellow yesterday boyish obeying played playing plays player
ceased cease ceasing create created creating creation creative creativity
electricity electrically electrician happiness happily happier happiest
relativity relatively relative relate related relating relation relations
international internationally nationality nation nations national nationally
running runner runs ran swimming swimmer beginning begins beginner
feet foot goose geese mouse mice children child women woman men man
hopeless helpfulness usefulness awareness consciousness business businesses
lazy laziness crazy craziness easy easily easier ease eased
""".split()

MIXED_CASE = ["Dying", "SKIES", "News", "Running", "CATS", "Generalization", "iPhone"]


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def porter_words(summeval, budget=900_000):
    words = []
    seen = set()

    def add(w):
        if w not in seen:
            seen.add(w)
            words.append(w)

    for w in TRICKY:
        add(w)
    for item in summeval:
        texts = [item["source"], item["highlights"], *item["references"], *item["systems"].values()]
        for text in texts:
            for w in re.findall(r"[a-z0-9]+", text.lower()):
                add(w)
    for sub in ("Academic/train", "Academic/val", "ALL/val"):
        qdir = os.path.join(DATA, "qmsum", sub)
        if not os.path.isdir(qdir):
            continue
        for name in sorted(os.listdir(qdir)):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(qdir, name), encoding="utf-8") as f:
                meeting = json.load(f)
                for turn in meeting["meeting_transcripts"]:
                    for w in re.findall(r"[a-z0-9]+", turn["content"].lower()):
                        add(w)
    lines, size = [], 0
    for w in words:
        line = "%s\t%s\n" % (w, STEMMER.stem(w))
        if size + len(line) > budget:
            break
        lines.append(line)
        size += len(line)
    for w in MIXED_CASE:
        lines.append("%s\t%s\n" % (w, STEMMER.stem(w)))
    return lines


EDGE_CASES = [
    ("both empty", "", ""),
    ("empty reference", "", "the cat sat"),
    ("empty candidate", "the cat sat", ""),
    ("punctuation only", "... !!! ,,,", "?? -- ;;"),
    ("punctuation vs words", "!!!", "the cat"),
    ("identical", "The cat sat on the mat.", "The cat sat on the mat."),
    ("no overlap", "alpha beta gamma", "delta epsilon zeta"),
    ("textbook", "the cat sat on the mat", "the cat on the mat"),
    ("repeated tokens", "the the the the cat", "the the cat cat cat"),
    ("repeated bigrams", "a b a b a b", "a b a b"),
    ("single token", "hello", "hello"),
    ("single vs two", "hello", "hello hello"),
    ("stemming", "The runners were running quickly", "A runner runs quick"),
    ("case and punctuation", "Hello, WORLD! It's 2024.", "hello world its 2024"),
    ("digits and hyphens", "covid-19 cases rose 3.5% in 2020-21", "covid 19 cases rose 3 5 in 2020 21"),
    ("unicode", "caf\u00e9 na\u00efve \u00fcber r\u00e9sum\u00e9 \u0130stanbul \u212aelvin",
     "cafe naive uber resume istanbul kelvin"),
    ("short words unstemmed", "was has its bus", "wa ha it bu"),
    ("lsum multi-line", "the cat sat on the mat\nthe dog ate my homework",
     "the dog sat on the mat\nthe cat ate my homework"),
    ("lsum repeated across lines", "a b c\na b c\na b c", "a b c a b c"),
    ("lsum candidate one line", "police killed the gunman\nthe gunman was armed",
     "police killed the armed gunman"),
    ("lsum reference one line", "police killed the armed gunman",
     "police killed the gunman\nthe gunman was armed"),
    ("lsum empty lines", "\n\nthe cat\n\n\nsat on the mat\n", "\nthe cat sat\n\non the mat\n\n"),
    ("lsum punctuation lines", "the cat\n...\nsat", "!!!\nthe cat sat\n---"),
    ("lsum only newlines", "\n\n\n", "\n\n"),
    ("lsum crlf", "the cat sat\r\non the mat\r\n", "the cat\r\nsat on the mat"),
    ("lsum ties", "a b a b a\nb a b", "b a b a\na b"),
    ("whitespace only", "   \t  ", "  "),
    ("long vs short", "one two three four five six seven eight nine ten eleven twelve", "six"),
    ("reordered", "one two three four five", "five four three two one"),
]


def random_pairs(rng, count):
    vocab = ["a", "b", "c", "d", "the", "cats", "cat", "run", "running"]
    out = []
    for k in range(count):
        def text():
            lines = []
            for _ in range(rng.randint(1, 4)):
                lines.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 9))))
            return "\n".join(lines)

        out.append(("random %d" % k, text(), text()))
    return out


def main():
    se_path = os.path.join(DATA, "summeval", "summeval100.jsonl")
    summeval = read_jsonl(se_path)

    with open(os.path.join(HERE, "porter_reference.tsv"), "w", encoding="utf-8") as f:
        f.writelines(porter_words(summeval))

    pairs = list(EDGE_CASES)
    pairs += random_pairs(random.Random(1), 60)
    for item in summeval:
        for system in ("M0", "M22"):
            pairs.append(("summeval %s %s" % (item["id"], system), item["highlights"], item["systems"][system]))
    # Sentence-per-line variants (how rougeLsum is normally fed) for a few items.
    for item in summeval[:25]:
        split = lambda s: s.replace(" . ", " .\n")
        pairs.append(("summeval-lines %s M22" % item["id"], split(item["highlights"]), split(item["systems"]["M22"])))

    with open(os.path.join(HERE, "rouge_reference.jsonl"), "w", encoding="utf-8") as f:
        for name, ref, cand in pairs:
            rec = {"name": name, "ref": ref, "cand": cand}
            rec.update(rouge_all(ref, cand))
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print("nltk", nltk.__version__, "pairs", len(pairs))


if __name__ == "__main__":
    main()
