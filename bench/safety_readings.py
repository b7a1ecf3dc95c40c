"""The usual readings of bare words the signal file's negative contexts use, for its [readings] section.

A word typed without accents stands for several ("co" = có, cô, cỏ, cổ). For every word of a negative context
(alone among alternatives, or in a set) this counts, over the accented messages of the corpus's dev half and the
project's own Vietnamese texts (flows, messages, forum topics), what its bare form stands for, and prints the
readings that make at least a quarter of its uses, for bare words with a reading below that share:

    python -m bench.safety_readings > readings.toml   # then replace the [readings] entries with it

The held half is never read.
"""

from __future__ import annotations

import collections
import re
import tomllib
import unicodedata
from pathlib import Path

from conversations.safety import SIGNALS
from conversations.spelling import bare_of, key
from tests.support.safety_corpus import read

ROOT = Path(__file__).parent.parent
SURE = 0.25  # the least share of a bare word's uses a reading needs to be usual
LEAST = 5  # the fewest uses of a bare word to judge it


def texts() -> list[str]:
    """Accented text: the dev half's messages and the project's own Vietnamese strings."""
    out = [r.text for r in read() if r.split == "dev" and not r.text.isascii()]
    files = [*ROOT.glob("conversations/flows/*.toml"), *ROOT.glob("conversations/*.py"), *ROOT.glob("bot/*.py"),
             ROOT / "conversations" / "data" / "forum.toml"]
    for f in files:
        out += re.findall(r'"([^"]*[à-ỹđ][^"]*)"', f.read_text(encoding="utf-8"))
    return out


def negative_words(doc: dict) -> set[str]:
    """Every single word a negative context uses (in alternatives, sequences or sets)."""
    words: set[str] = set()
    sources = list(doc.get("common", {}).get("unless", []))
    for entry in doc["categories"]:
        sources += entry.get("unless", [])
    for source in sources:
        for token in re.findall(r"@\w+|[^\s()\[\]|.@]+", source):
            if token.startswith("@"):
                words.update(w for w in doc["sets"].get(token[1:], []) if " " not in w)
            else:
                words.add(token)
    return words


def main() -> None:
    """Print the [readings] entries."""
    uses: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    surface: dict[str, str] = {}
    for text in texts():
        for w in re.findall(r"[^\W\d_]+", unicodedata.normalize("NFC", text.lower())):
            uses[bare_of(key(w))][key(w)] += 1
            surface.setdefault(key(w), w)
    doc = tomllib.loads(SIGNALS.read_text(encoding="utf-8"))
    bare_words = {bare_of(key(w)) for w in negative_words(doc)}
    for b in sorted(bare_words):
        counts = uses.get(b)
        if not counts or sum(counts.values()) < LEAST or len(counts) < 2:
            continue
        total = sum(counts.values())
        usual = [k for k, n in counts.most_common() if n / total >= SURE]
        if len(usual) < len(counts):
            print(f"{b} = [" + ", ".join(f'"{surface[k]}"' for k in usual) + "]")


if __name__ == "__main__":
    main()
