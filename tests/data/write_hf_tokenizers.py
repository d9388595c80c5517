"""Builds Hugging Face tokenizer.json files the way real checkpoints are made, with PyPI
`tokenizers`, and what `tokenizers` itself encodes tricky text to, for the engine's own runtime
(core/data/src/hf_json_tokenizer.cpp) to match token for token:

  gpt2      ByteLevel(use_regex) pre-tokenizer, merges written as "a b" strings (the older
            format), <|endoftext|> special, a non-special <mask> with lstrip and a normalized
            single-word [[note]]
  gpt2-prefix  the same model with ByteLevel(add_prefix_space=True)
  llama3    Split(Llama 3's regex) + ByteLevel(use_regex=False), ignore_merges, merges as pairs,
            Llama 3's special tokens (<|begin_of_text|>, <|end_of_text|>, <|eot_id|>, ...)
  qwen2     NFC normalizer, Split(Qwen2's regex) + ByteLevel, <|endoftext|>, <|im_start|>, <|im_end|>
  misc      gpt2's model behind Digits, Split(String, MergedWithPrevious), Split(Regex, MergedWithNext),
            Split(Regex, Contiguous, invert), Split(Regex, Removed) and ByteLevel(add_prefix_space)
The texts: hand-written tricky ones and 300 random strings over a pool of troublemakers.

  python write_hf_tokenizers.py OUTDIR   ->  OUTDIR/<name>/tokenizer.json, OUTDIR/expected.json,
                                             OUTDIR/docs.jsonl (for the corpus pipeline test)
"""
import json
import random
import sys
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
          r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
         r"\s*[\r\n]+|\s+(?!\S)|\s+")

TEXTS = [
    "Hello world",
    "Hello  world!\n\n  foo 123abc",
    "  leading and trailing  ",
    "\t\ttabs\tand\nnewlines\r\n\r\nend",
    "don't stop believing, it's 3.14159 o'clock — I'M SURE YOU'LL SEE, they'RE here; we'VE gone",
    "x'y z's ' s' '' it\u2019s IT'S it'ſ",
    "ünïcode — “quotes” 東京 😀! ",
    "日本語のテキストとカタカナ、漢字。中文也可以！한국어 텍스트입니다.",
    "emoji 👩‍👩‍👧‍👦 family 🇩🇪 flag 😀😃🤖 ok",
    "numbers 1234567890 and 12,345.67 and ٣٤٥ and ①② and ½",
    "a     b      \n\n\n   c\n \n",
    "   ",
    "\n",
    "",
    "first doc<|endoftext|>second doc<|endoftext|>",
    "<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n",
    "<|begin_of_text|>Hello<|eot_id|><|start_header_id|>user<|end_header_id|>",
    "a <mask> b  <mask>c x<mask>y",
    "the [[note]] here and x[[note]]y [[note]].",
    "Cafe\u0301 vs Café, A\u030a vs Å, ﬁ ligature, Ω Ohm",
    "a" * 300 + " " + "supercalifragilisticexpialidocious" * 8,
    "def f(x):\n    return x**2  # comment\n\n\tif x>=0 and y!=1: pass\n",
    "a\u00a0b\u3000c\u2028d\u0085e\u2009f",
    "control \x00\x01\x1f bytes and DEL \x7f",
    "ABCdef GHIjkl 123abc456 MiXeD_case-with-dashes 2024-06-01",
    "Straße Größe façade naïve œuvre Ærø",
]


# Random strings over a pool meant to break pre-tokenizers: scripts, digits of other scripts,
# combining marks, joiners, every kind of space, apostrophes, pieces of special tokens.
POOL = (list("abcXYZ019 '\"-_.,!?;:()[]{}<>|/\\@#$%^&*+=~`") +
        ["\n", "\r", "\t", "\v", "\f", "\u00a0", "\u2009", "\u3000", "\u2028", "\u0085", "\u200d", "\u0301",
         "\u030a", "\u0663", "\u0967", "\u2460", "\u00bd", "\u017f", "\u212a", "\u2019", "é", "ß", "ø", "Ω", "ж",
         "東", "の", "テ", "한", "😀", "👩", "🇩", "🇪", "\U0001d518", "\ufffd", "\x00", "\x7f",
         "'s", "'LL", "'Re", "<|endoftext|>", "<|im_start|>", "<mask>", "[[note]]", "<|eot", "  ", "\n\n", " \n "])


def random_texts(rng, n):
    return ["".join(rng.choice(POOL) for _ in range(rng.randint(0, 40))) for _ in range(n)]


def corpus(rng):
    lines = []
    fortunes = Path("/usr/share/games/fortunes/fortunes")
    if fortunes.exists():
        lines += fortunes.read_text(encoding="utf-8", errors="replace").split("%\n")[:1500]
    words = ["federation", "expert", "router", "token", "site", "gradient", "Über", "naïve", "東京", "données",
             "42", "3.14", "don't", "it's", "we'll", "😀", "日本語", "テキスト", "Straße", "  ", "\n", "\t"]
    for _ in range(400):
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(5, 40))))
    return lines + TEXTS


def trained(pre, special, vocab, docs, normalizer=None, ignore_merges=False):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(docs, trainers.BpeTrainer(vocab_size=vocab, special_tokens=special,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                      show_progress=False))
    return json.loads(tok.to_str())


EOS = ["<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>"]  # scripts/prepare-tokens' order


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(11)
    docs = corpus(rng)
    files = {}

    gpt2 = trained(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), ["<|endoftext|>"], 900, docs)
    tok = Tokenizer.from_str(json.dumps(gpt2))
    tok.add_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, single_word=False, normalized=False),
                    AddedToken("[[note]]", single_word=True, normalized=True)])
    gpt2 = json.loads(tok.to_str())
    gpt2["model"]["merges"] = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in gpt2["model"]["merges"]]
    files["gpt2"] = gpt2

    prefix = json.loads(json.dumps(gpt2))
    prefix["pre_tokenizer"]["add_prefix_space"] = True
    files["gpt2-prefix"] = prefix

    llama_special = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                     "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    llama = trained(pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated", invert=False),
                                             pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
                    llama_special, 1100, docs, ignore_merges=True)
    llama["model"]["ignore_merges"] = True
    llama["model"]["merges"] = [m if isinstance(m, list) else m.split(" ", 1) for m in llama["model"]["merges"]]
    files["llama3"] = llama

    qwen = trained(pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2), behavior="isolated", invert=False),
                                            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
                   ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], 1000, docs, normalizer=normalizers.NFC())
    files["qwen2"] = qwen

    misc = json.loads(json.dumps(gpt2))
    misc["pre_tokenizer"] = json.loads(pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Split("-", behavior="merged_with_previous"),
        pre_tokenizers.Split(Regex(r"[A-Z]+"), behavior="merged_with_next"),
        pre_tokenizers.Split(Regex(r"\s+"), behavior="contiguous", invert=True),
        pre_tokenizers.Split(Regex(r"[.,!?]"), behavior="removed"),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
    ]).__getstate__())
    files["misc"] = misc

    texts = TEXTS + random_texts(random.Random(5), 300)
    expected = {"texts": texts, "tokenizers": {}}
    for name, j in files.items():
        d = out / name
        d.mkdir(exist_ok=True)
        text = json.dumps(j, ensure_ascii=False, indent=1)
        (d / "tokenizer.json").write_text(text, encoding="utf-8")
        tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        ids = [tok.encode(t, add_special_tokens=False).ids for t in texts]
        eos = next(tok.token_to_id(t) for t in EOS if tok.token_to_id(t) is not None)
        expected["tokenizers"][name] = {
            "path": str(d / "tokenizer.json"),
            "vocab": tok.get_vocab_size(with_added_tokens=True),
            "eos": eos,
            "ids": ids,
            "decoded": [tok.decode(i, skip_special_tokens=True) for i in ids],
            "doc_ids": None,
        }
    # A corpus for the pipeline test: every document's ids by the llama3-style tokenizer.
    rows = [t for t in docs[-300:] if t.strip()]
    with open(out / "docs.jsonl", "w", encoding="utf-8") as f:
        for t in rows:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    llama_tok = Tokenizer.from_file(expected["tokenizers"]["llama3"]["path"])
    expected["tokenizers"]["llama3"]["doc_ids"] = [llama_tok.encode(t, add_special_tokens=False).ids for t in rows]
    json.dump(expected, open(out / "expected.json", "w", encoding="utf-8"), ensure_ascii=False)


if __name__ == "__main__":
    main()
