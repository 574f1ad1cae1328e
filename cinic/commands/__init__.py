"""The CLI's commands (`python -m cinic COMMAND`), one module per area: data, training, runs, analysis.

Each command is a handler `cmd_<name>(args)` with the options it reads declared just above it in
`<name>_arguments(p)`; `cinic.cli` lists them, builds the parser and runs one.
"""
