"""Trains a byte-level BPE with PyPI `tokenizers` (as a researcher would for their own corpus),
writes it as tokenizer.json, a JSONL corpus, one line that is not JSON in a second file, and
what `tokenizers` itself encodes each document to:
  train_hf_tokenizer.py OUTDIR   ->  OUTDIR/{tokenizer.json, docs.jsonl, broken.jsonl, expected.json}"""
import json
import random
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rng = random.Random(5)
words = ["federation", "expert", "router", "token", "site", "gradient", "Über", "naïve", "東京", "données", "42", "3.14"]
docs = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 60))) + rng.choice([".", "!", "?\n"]) for _ in range(200)]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.train_from_iterator(docs, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
tok.save(str(out / "tokenizer.json"))
with open(out / "docs.jsonl", "w", encoding="utf-8") as f:
    for d in docs:
        f.write(json.dumps({"text": d, "id": len(d)}) + "\n")
with open(out / "broken.jsonl", "w", encoding="utf-8") as f:
    f.write(json.dumps({"text": "fine"}) + "\n{not json\n")
eos = tok.token_to_id("<|endoftext|>")
json.dump({"eos": eos, "vocab": tok.get_vocab_size(), "ids": [tok.encode(d).ids for d in docs]},
          open(out / "expected.json", "w"))
