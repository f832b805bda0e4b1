"""``python -m optiscope``: the same command line as ``optiscope``."""

from optiscope.cli import main

if __name__ == "__main__":
    main()
