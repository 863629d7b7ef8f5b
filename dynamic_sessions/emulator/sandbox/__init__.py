"""The sandbox: how a session's process is started under bubblewrap (`launcher`, `program`) with no descriptor
the emulator holds (`processes`), its caps and cgroups (`caps`, `cgroups`), its seccomp filter (`seccomp`), its
network and egress fence (`network`, `fence`), the emulator's pipes read and written on the event loop (`pipes`),
the emulator's scratch folders (`scratch`) and safe access to a session's files (`files`). Imports nothing else
of the emulator."""
