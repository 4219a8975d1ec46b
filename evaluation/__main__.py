"""python -m evaluation: the quality table (see `evaluation.evaluate`)."""

import sys

from .evaluate import main

sys.exit(main())
