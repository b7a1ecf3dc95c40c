"""Analytics: criterion-13 scores computed in SQL and shaped by pure functions."""

from analytics.score import CommuneScore, GroupScore, commune_index, compute, to_json

__all__ = ["CommuneScore", "GroupScore", "commune_index", "compute", "to_json"]
