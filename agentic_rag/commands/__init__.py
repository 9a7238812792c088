"""One module per `agentic-rag` subcommand outside the index group; each registers its parser
and imports heavy libraries only when it runs."""
