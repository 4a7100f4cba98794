"""The command line: ``vitzoo`` (main.py dispatches one module per subcommand) and ``vitzoo-convert``.

Each command parses its options and calls the workflows or the public API; no logic lives here.
"""
