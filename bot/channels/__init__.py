"""Channels turn platform updates into Incoming messages and render Replies."""

from bot.channels.base import Channel, numbered

__all__ = ["Channel", "numbered"]
