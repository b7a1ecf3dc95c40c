"""Analytics: criterion-13 scores computed in SQL and shaped by pure functions."""

from analytics.rubric import Rubric, RubricError
from analytics.rubric import load as load_rubric
from analytics.score import CommuneScore, GroupScore, compute, to_json

__all__ = ["CommuneScore", "GroupScore", "Rubric", "RubricError", "compute", "load_rubric", "to_json"]
