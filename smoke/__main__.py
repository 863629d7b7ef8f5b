import sys

from dynamic_sessions.smoke.__main__ import main

sys.exit(main())
