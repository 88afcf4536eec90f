# Two commands do everything on a fresh machine: `make demo` and `make test`.
.PHONY: setup demo test lint serve

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/dubbing-studio demo

serve: setup
	.venv/bin/dubbing-studio serve

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

test: lint
	bash scripts/with-services.sh .venv/bin/pytest
