"""``python -m spikingjelly_mulfree.train --help``."""
from .cli import main

if __name__ == "__main__":
    main()
