"""Conversations: flows as data and the pure engine that interprets them."""

from conversations.catalogue import Catalogue
from conversations.engine import Engine
from conversations.loader import FlowError, load_flows
from conversations.messages import Choice, Incoming, Reply
from conversations.turn import Context, Input, Result

__all__ = ["Catalogue", "Choice", "Context", "Engine", "FlowError", "Incoming", "Input", "Reply", "Result",
           "load_flows"]
