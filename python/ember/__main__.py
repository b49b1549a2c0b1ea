"""``python -m ember``: the interactive shell, as the ``ember`` command (see ember.shell)."""
import sys

from ember.shell import main

if __name__ == "__main__":
    sys.exit(main())
