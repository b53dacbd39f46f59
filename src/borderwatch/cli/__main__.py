from borderwatch.cli.main import run

run()
