"""Sessions: the pool of identifiers to live sessions with capacity, cooldown and ready sessions (`pool`), one
session's process and the channel to its kernel (`session`), its answers read without trusting them
(`answers`), what each container type runs (`runtimes`), the preloaded Python package set and its cache
(`packages`), a shell command in a session of any type (`commands`), and the kernels themselves (`kernel.js`,
`kernel.py`, `kernel_shell`). Imports the sandbox room, never the api room."""
