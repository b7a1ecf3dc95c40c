"""The catalogue of texts people see, one TOML file per language under stable keys."""

from __future__ import annotations

from pathlib import Path

from conversations.datafile import read_toml
from conversations.model import LANGS

TEXTS_DIR = Path(__file__).parent / "texts"


class Catalogue:
    """Texts by language and key, formatted with named values."""

    def __init__(self, texts: dict[str, dict[str, str]]) -> None:
        self.texts = texts

    @classmethod
    def load(cls, folder: Path = TEXTS_DIR) -> Catalogue:
        """Read every language file and check that they share their keys."""
        texts = {}
        for lang in LANGS:
            texts[lang] = _flatten(read_toml(folder / f"{lang}.toml", "texts file"))
        missing = set(texts["vi"]) ^ set(texts["en"])
        if missing:
            raise ValueError(f"texts/vi.toml and texts/en.toml differ in keys: {sorted(missing)}")
        return cls(texts)

    def has(self, lang: str, key: str) -> bool:
        """Whether a language has a text under a key."""
        return key in (self.texts.get(lang) or self.texts["vi"])

    def get(self, lang: str, key: str, **values: object) -> str:
        """Return the text for a key in a language, formatted."""
        table = self.texts.get(lang) or self.texts["vi"]
        return table[key].format(**values) if values else table[key]


def _flatten(doc: dict[str, object], prefix: str = "") -> dict[str, str]:
    """Turn nested TOML tables into dotted keys."""
    flat: dict[str, str] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat
