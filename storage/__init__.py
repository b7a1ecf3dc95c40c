"""Storage: SQLAlchemy models, migrations and async repository functions."""
