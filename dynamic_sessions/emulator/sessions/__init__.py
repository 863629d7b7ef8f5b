"""Sessions: the pool of identifiers to live sessions with capacity, cooldown and ready sessions (`pool`), one
session's process and the channel to its kernel (`session`), what each container type runs (`runtimes`), and
the kernels themselves (`kernel.js`, `kernel.py`). Imports the sandbox room, never the api room."""
