"""`xtt safety check` screens messages from stdin as JSON lines; `xtt safety train` retrains the scorer."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from conversations.datafile import DataFileError
from conversations.safety import SIGNALS, Screen
from conversations.safety_model import MODEL
from conversations.safety_training import Settings, read_dev, train

CORPUS = Path(__file__).parent.parent / "tests" / "data" / "safety_corpus.tsv"


def check(lines: Iterable[str], out: TextIO, screen: Screen) -> int:
    """Write one JSON object per line read; return how many lines fired."""
    fired = 0
    for line in lines:
        text = line.rstrip("\r\n")
        found = screen.check(text)
        fired += bool(found.categories)
        out.write(json.dumps({"text": text, "categories": list(found.categories), "matched": list(found.matched)},
                             ensure_ascii=False) + "\n")
        out.flush()
    return fired


def main(args: argparse.Namespace) -> int:
    """xtt safety check [--signals FILE] [--model FILE | --no-model]; xtt safety train [--corpus FILE] [--out FILE]."""
    if args.action == "train":
        return _train(args)
    try:
        screen = Screen.load(args.signals or SIGNALS, None if args.no_model else args.model or MODEL)
    except (OSError, DataFileError) as exc:
        print(f"xtt: {exc}", file=sys.stderr)
        return 2
    source = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", write_through=True)
    check(source, out, screen)
    out.detach()
    return 0


def _train(args: argparse.Namespace) -> int:
    """Fit the scorer on the corpus's dev half, choose its threshold by cross-validation, write the model file."""
    corpus, out = args.corpus or CORPUS, args.out or MODEL
    try:
        speller = Screen.load(args.signals or SIGNALS, None).speller
        examples = read_dev(corpus)
    except (OSError, ValueError, DataFileError) as exc:
        print(f"xtt: {exc}", file=sys.stderr)
        return 2
    if not any(label == "none" for label, _ in examples) or len({label for label, _ in examples}) < 2:
        print(f"xtt: {corpus.name}: the dev half needs harmless ('none') messages and disclosures", file=sys.stderr)
        return 2
    started = time.process_time()
    settings = Settings()
    scorer = train(speller, examples, settings)
    doc = scorer.document({"trained_on": f"{corpus.name}, dev half, {len(examples)} messages",
                           "settings": dataclasses.asdict(settings)})
    out.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"xtt: wrote {out} ({len(scorer.weights)} features, threshold {scorer.threshold}) from "
          f"{len(examples)} dev messages in {time.process_time() - started:.1f} s CPU")
    return 0
