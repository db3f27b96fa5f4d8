"""Local stack: provisions real Kafka and PostgreSQL without Docker and runs the project's services.

Run it as ``python -m stack``; see ``stack/__main__.py`` for the commands.
"""
