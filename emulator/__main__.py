import sys

from dynamic_sessions.emulator.__main__ import main

sys.exit(main())
