"""``python -m dubbing_studio`` is the ``dubbing-studio`` command."""

from dubbing_studio.cli import main

main()
