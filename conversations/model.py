"""Value types of flows: texts, options, steps, the onboarding and the questionnaires."""

from __future__ import annotations

from dataclasses import dataclass, field

LANGS = ("vi", "en")
GROUPS = ("child", "resident")
TOPICS = (
    "safety", "violence_abuse", "drowning_injury", "health", "school",
    "play", "participation", "support", "birth_registration",
)


@dataclass(frozen=True, slots=True)
class Text:
    """A text in every supported language."""

    vi: str
    en: str

    def get(self, lang: str) -> str:
        """Return the text in a language, falling back to Vietnamese."""
        return self.en if lang == "en" and self.en else self.vi


@dataclass(frozen=True, slots=True)
class Option:
    """One answer a person can choose."""

    id: str
    label: Text
    value: str = ""
    end: str | None = None
    satisfied: bool = False
    scored: bool = True


@dataclass(frozen=True, slots=True)
class Step:
    """One question of the onboarding or a questionnaire."""

    id: str
    text: Text
    options: tuple[Option, ...] = ()
    field: str | None = None
    when: tuple[tuple[str, str], ...] = ()
    consent: str | None = None
    options_from: str | None = None
    topic: str = ""
    short: Text | None = None  # a few words naming a questionnaire item, shown on the review screen

    def applies(self, data: dict[str, object]) -> bool:
        """Tell whether the step is asked given the answers collected so far."""
        return all(data.get(key) == value for key, value in self.when)

    def option(self, option_id: str) -> Option | None:
        """Find an option by id."""
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(frozen=True, slots=True)
class Onboarding:
    """Explanation, consent and profile questions asked before a survey."""

    version: str
    purpose: str
    steps: tuple[Step, ...]
    ends: dict[str, Text] = field(default_factory=dict)

    def step(self, step_id: str) -> Step | None:
        """Find a step by id."""
        return next((s for s in self.steps if s.id == step_id), None)


@dataclass(frozen=True, slots=True)
class Comment:
    """The optional free-text comment at the end of a questionnaire."""

    id: str
    text: Text
    max_length: int


@dataclass(frozen=True, slots=True)
class Questionnaire:
    """The satisfaction items of one group, answered on one scale."""

    group: str
    version: str
    title: Text
    intro: Text
    scale: tuple[Option, ...]
    items: tuple[Step, ...]
    comment: Comment | None

    def index(self, item_id: str) -> int:
        """Return an item's position, or -1."""
        return next((i for i, s in enumerate(self.items) if s.id == item_id), -1)


@dataclass(frozen=True, slots=True)
class Flows:
    """Everything the engine interprets, loaded once at start-up."""

    onboarding: Onboarding
    questionnaires: dict[str, Questionnaire]
