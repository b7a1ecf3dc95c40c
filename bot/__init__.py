"""The bot: channels, the service that meets storage, the command line."""
