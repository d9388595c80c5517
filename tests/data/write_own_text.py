"""Writes a researcher's own text the way people keep it, independently of the engine's reader:
a folder of .txt files (one with documents separated by lines "----"), a gzip'd JSONL file with
a text field and a domain field, and JSONL files with a bad line. Prints a JSON manifest.

  python write_own_text.py OUTDIR
"""
import gzip
import json
import random
import sys
from pathlib import Path

WORDS = ("the quick brown fox jumps over a lazy dog while seven federated sites train their "
         "experts and exchange pseudo gradients over slow links").split()


def text(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def main():
    out = Path(sys.argv[1])
    rng = random.Random(7)
    folder = out / "notes"
    folder.mkdir(parents=True, exist_ok=True)
    docs = []
    for i in range(5):
        t = text(rng, 40 + i)
        (folder / f"note{i}.txt").write_text(t)
        docs.append(t)
    parts = [text(rng, 30) for _ in range(4)]
    (folder / "many.txt").write_text("\n----\n".join(parts) + "\n")
    rows = [{"text": text(rng, 50), "source": ("wiki", "code", "news")[i % 3], "id": i} for i in range(60)]
    with gzip.open(out / "corpus.jsonl.gz", "wt") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
            if r["id"] == 10:
                f.write("\n")  # a blank line is skipped
    with open(out / "bad_json.jsonl", "w") as f:
        f.write(json.dumps({"text": "fine"}) + "\n" + json.dumps({"text": "fine too"}) + "\n{not json\n")
    with open(out / "no_field.jsonl", "w") as f:
        f.write(json.dumps({"text": "fine"}) + "\n" + json.dumps({"body": "wrong field"}) + "\n")
    (out / "empty").mkdir(exist_ok=True)
    print(json.dumps({"notes": str(folder), "note_docs": docs, "many_parts": parts,
                      "jsonl": str(out / "corpus.jsonl.gz"), "rows": rows}))


if __name__ == "__main__":
    main()
