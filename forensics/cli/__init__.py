"""The ``forensics`` command: :mod:`forensics.cli.main` is the entry point, one module per subcommand."""
