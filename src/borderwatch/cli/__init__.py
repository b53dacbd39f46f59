"""The command line (Typer + Rich): one small module per command group."""
