"""Target formulas from a data file, evaluated safely: numbers, one or more named values, + - * / // and
max, min, ceil, floor, round — nothing else of Python runs."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from conversations.datafile import DataFileError, read_toml

DEFAULT = Path(__file__).parent / "data" / "targets.toml"
FUNCTIONS: dict[str, Callable[..., float]] = {"max": max, "min": min, "ceil": math.ceil, "floor": math.floor,
                                              "round": round}
OPERATORS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv}
NAMES = ("children_count",)


class FormulaError(DataFileError):
    """A formula is not allowed or cannot be computed; the message names it and the fix."""


@dataclass(frozen=True, slots=True)
class Formula:
    """One formula's text, checked when made."""

    text: str

    def __post_init__(self) -> None:
        """Refuse anything outside the allowed arithmetic at once."""
        _check(_parse(self.text), self.text)

    def __call__(self, **values: float) -> int:
        """The whole number the formula gives for named values (rounded up)."""
        result = _eval(_parse(self.text).body, values, self.text)
        return math.ceil(result - 1e-9)


def _parse(text: str) -> ast.Expression:
    """The expression tree of a formula."""
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"formula {text!r} is not valid arithmetic ({exc.msg})") from exc


def _check(tree: ast.AST, text: str) -> None:
    """Allow numbers, known names, arithmetic and the listed functions only."""
    for node in ast.walk(tree):
        ok = isinstance(node, ast.Expression | ast.Load | ast.BinOp | ast.UnaryOp | ast.USub | ast.UAdd) or type(
            node) in OPERATORS
        ok = ok or (isinstance(node, ast.Constant) and isinstance(node.value, int | float)
                    and not isinstance(node.value, bool))
        ok = ok or (isinstance(node, ast.Name) and (node.id in NAMES or node.id in FUNCTIONS))
        ok = ok or (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
                    and not node.keywords)
        if not ok:
            raise FormulaError(f"formula {text!r} uses {type(node).__name__}; allowed: numbers, "
                               f"{', '.join(NAMES)}, + - * / //, {', '.join(FUNCTIONS)}")


def _eval(node: ast.AST, values: Mapping[str, float], text: str) -> float:
    """Evaluate a checked tree."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise FormulaError(f"formula {text!r} needs {node.id}; give it (e.g. a children_count column)")
        return values[node.id]
    if isinstance(node, ast.UnaryOp):
        inner = _eval(node.operand, values, text)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        try:
            return OPERATORS[type(node.op)](_eval(node.left, values, text), _eval(node.right, values, text))
        except ZeroDivisionError as exc:
            raise FormulaError(f"formula {text!r} divides by zero") from exc
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return FUNCTIONS[node.func.id](*(_eval(a, values, text) for a in node.args))
    raise FormulaError(f"formula {text!r} cannot be computed")


def load_formulas(path: Path = DEFAULT) -> dict[str, Formula]:
    """The formula per group ('child', 'resident') from a targets file."""
    doc = read_toml(path, "targets file", FormulaError)
    result = {}
    for group, key in (("child", "children"), ("resident", "residents")):
        text = doc.get(key)
        if not isinstance(text, str | int):
            raise FormulaError(f"{path.name}: give {key} = \"...\", a formula of children_count or a number")
        result[group] = Formula(str(text))
    return result
