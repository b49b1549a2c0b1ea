"""Deterministic benchmark data: Zipf text and key-value records.

    python bench/datagen.py [--data-dir DIR] [--text-mb 100] [--quick]

Every file is a function of its spec (kind, size, seed ...): the same spec gives the
same bytes on every machine with the same Python. A file is written once, next to a
``.meta.json`` holding its spec, size and SHA-256, and reused while those still match.

Text. Words are drawn from a vocabulary of pseudo-words with Zipf-distributed
frequencies (rank r has weight 1 / (r + 1) ** s), frequent words being short as in
natural language. Words per line follow a log-normal distribution (median 11, a long
tail to a few hundred), with about 3% empty lines, so lines average ~70 bytes.

High-cardinality text (``hightext``) has the same line shape (without empty lines),
but a fraction of its words (two thirds by default) are random tokens of eight to
twelve letters, almost all distinct, so most keys of a word count occur once per map
task; the other words come from a Zipf vocabulary of 20,000 words. The big word
count's text (``bigtext_spec``) is hightext with 7% random tokens: about 50 M
distinct words in 4 GiB.

Key-value records are lines ``key<TAB>value``. Keys are ints (uniform over a key
space) or strings (``k`` and eight digits); with ``hot`` > 0 that fraction of the
records carries one hot key (0, or ``"HOT"``). Values are ints below 2**31.
"""

import argparse
import hashlib
import itertools
import json
import math
import os
import random
import string
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA_DIR = os.path.join(HERE, "data")

MB = 1 << 20
# Content hashes are checked on reuse for files up to this size; bigger files are
# matched by spec and size (hashing 4 GB on every run would cost more than it saves).
HASH_CHECK_LIMIT = 1 << 30


# ---- text ------------------------------------------------------------------------

def vocabulary(size, seed):
    """`size` distinct lowercase pseudo-words; the word of rank r has about
    1 + log4(r + 1) letters, so frequent words are short."""
    rnd = random.Random(seed)
    letters = string.ascii_lowercase
    seen = set()
    words = []
    for r in range(size):
        n = 1 + int(math.log(r + 1, 4)) + rnd.randint(0, 3)
        while True:
            w = "".join(rnd.choices(letters, k=min(n, 24)))
            if w not in seen:
                break
            n += 1
        seen.add(w)
        words.append(w)
    return words


def write_text(path, spec):
    """Writes Zipf text of spec["bytes"] bytes (cut at a line end just past it)."""
    words = vocabulary(spec["vocab"], spec["seed"])
    s = spec["zipf_s"]
    cum = list(itertools.accumulate(1.0 / (r + 1) ** s for r in range(len(words))))
    rnd = random.Random(spec["seed"] + 1)
    choices = rnd.choices
    lognorm = rnd.lognormvariate
    rand = rnd.random
    mu = math.log(11)
    target = spec["bytes"]
    written = 0
    with open(path, "w", encoding="ascii", newline="\n") as f:
        while written < target:
            lines = []
            for _ in range(2000):
                if rand() < 0.03:
                    lines.append("")
                    continue
                n = min(int(lognorm(mu, 0.6)) + 1, 400)
                lines.append(" ".join(choices(words, cum_weights=cum, k=n)))
            chunk = "\n".join(lines) + "\n"
            f.write(chunk)
            written += len(chunk)


def write_hightext(path, spec):
    """Writes high-cardinality text of spec["bytes"] bytes (see the module docstring).

    Drawn with numpy a chunk of lines at a time, with no Python step per word (this
    writes the 4 GiB of the big word count): Zipf words through a table of 2**22
    equally likely slots (the inverse of their cumulative weights; the rarest word
    still holds a dozen slots), which words become random tokens, the tokens' lengths
    and letters, and the line ends, then the chunk joined in one call."""
    import numpy as np

    words = np.array(vocabulary(spec["vocab"], spec["seed"]), dtype=object)
    weights = 1.0 / (np.arange(len(words)) + 1.0) ** spec["zipf_s"]
    cum = np.cumsum(weights)
    cum /= cum[-1]
    slots = 1 << 22
    slot_words = words[np.searchsorted(cum, (np.arange(slots) + 0.5) / slots).clip(max=len(words) - 1)]
    rng = np.random.Generator(np.random.PCG64(spec["seed"] + 1))
    written = 0
    with open(path, "w", encoding="ascii", newline="\n") as f:
        while written < spec["bytes"]:
            lengths = np.minimum(rng.lognormal(np.log(11), 0.6, 2000).astype(np.int64) + 1, 400)
            n = int(lengths.sum())
            chunk = slot_words[rng.integers(0, slots, n)]
            at = np.flatnonzero(rng.random(n) < spec["unique"])
            sizes = rng.integers(8, 13, len(at))
            letters = rng.integers(ord("a"), ord("z") + 1, int(sizes.sum()), dtype=np.uint8).tobytes().decode()
            ends = np.cumsum(sizes)
            chunk[at] = [letters[e - k:e] for e, k in zip(ends.tolist(), sizes.tolist())]
            seps = np.full(n, " ", dtype=object)
            seps[np.cumsum(lengths) - 1] = "\n"
            out = np.empty(2 * n, dtype=object)
            out[0::2] = chunk
            out[1::2] = seps
            text = "".join(out.tolist())
            f.write(text)
            written += len(text)


# ---- key-value records -------------------------------------------------------------

def write_kv(path, spec):
    """Writes spec["records"] lines ``key<TAB>value``."""
    rnd = random.Random(spec["seed"])
    bits = rnd.getrandbits
    rand = rnd.random
    keyspace = spec["keys"]
    below = rnd.randrange
    hot = spec["hot"]
    strkeys = spec["key_type"] == "str"
    hot_key = "HOT" if strkeys else "0"
    left = spec["records"]
    with open(path, "w", encoding="ascii", newline="\n") as f:
        while left > 0:
            n = min(left, 100000)
            left -= n
            out = []
            for _ in range(n):
                if hot and rand() < hot:
                    k = hot_key
                elif strkeys:
                    k = "k%08d" % below(keyspace)
                else:
                    k = str(below(keyspace))
                out.append(f"{k}\t{bits(31)}\n")
            f.write("".join(out))


WRITERS = {"text": write_text, "hightext": write_hightext, "kv": write_kv}


# ---- specs, reuse --------------------------------------------------------------------

def text_spec(mb, seed=1):
    """Zipf text of `mb` MiB; the vocabulary grows with the size (up to 1M words)."""
    size = int(mb * MB)
    vocab = int(min(1_000_000, max(20_000, size // 100)))
    return {"kind": "text", "bytes": size, "vocab": vocab, "zipf_s": 1.05, "seed": seed}


def hightext_spec(mb, seed=11, unique=2 / 3):
    """High-cardinality text of `mb` MiB: the fraction `unique` of its words random tokens
    (two thirds by default). ``writer`` names the version of write_hightext, so a file
    an older one wrote is written again."""
    return {"kind": "hightext", "bytes": int(mb * MB), "vocab": 20_000, "zipf_s": 1.05, "unique": unique,
            "seed": seed, "writer": 2}


# The big word count's text: 7% random tokens give about 12 M distinct words per GiB
# (49 M in 4 GiB, as issue 10 measured), the rest the Zipf words of hightext.
BIG_TEXT_UNIQUE = 0.07


def bigtext_spec(mb, seed=7):
    """The big word count's text: high-cardinality text with about 12 M distinct words
    per GiB."""
    return hightext_spec(mb, seed=seed, unique=BIG_TEXT_UNIQUE)


def kv_spec(records, keys, key_type="int", hot=0.0, seed=2):
    return {"kind": "kv", "records": int(records), "keys": int(keys), "key_type": key_type,
            "hot": hot, "seed": seed}


def file_name(spec):
    if spec["kind"] in ("text", "hightext"):
        mb = spec["bytes"] / MB
        return f"{spec['kind']}-{mb:g}mb-s{spec['seed']}.txt"
    hot = f"-hot{spec['hot']:g}" if spec["hot"] else "-uniform"
    return (f"kv-{spec['key_type']}{hot}-{spec['records']}x{spec['keys']}"
            f"-s{spec['seed']}.tsv")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MB)
            if not b:
                return h.hexdigest()
            h.update(b)


def ensure(spec, data_dir=DEFAULT_DATA_DIR, log=print):
    """Returns the path of the file for spec, writing it unless a matching one exists."""
    os.makedirs(data_dir, exist_ok=True)
    path = os.path.join(data_dir, file_name(spec))
    meta_path = path + ".meta.json"
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        size = os.path.getsize(path)
        if meta["spec"] == spec and meta["size"] == size:
            if size > HASH_CHECK_LIMIT or sha256_file(path) == meta["sha256"]:
                return path
            log(f"data: {os.path.basename(path)} does not match its hash; rewriting")
    except (OSError, ValueError, KeyError):
        pass
    log(f"data: writing {os.path.basename(path)} ...")
    tmp = path + ".tmp"
    WRITERS[spec["kind"]](tmp, spec)
    meta = {"spec": spec, "size": os.path.getsize(tmp), "sha256": sha256_file(tmp),
            "python": sys.version.split()[0]}
    os.replace(tmp, path)
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    log(f"data: wrote {os.path.basename(path)} ({meta['size'] / MB:.1f} MiB)")
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    ap.add_argument("--text-mb", type=float, default=100)
    ap.add_argument("--quick", action="store_true", help="the tiny data of run.py --quick")
    ap.add_argument("--big", action="store_true", help="also the 4 GiB text")
    args = ap.parse_args(argv)
    import workloads
    sizes = workloads.Sizes.quick() if args.quick else workloads.Sizes.full(args.text_mb)
    for spec in sizes.specs(big=args.big).values():
        ensure(spec, args.data_dir)


if __name__ == "__main__":
    main()
