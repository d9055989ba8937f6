"""The absl commands: thin shells that parse flags and call the library.

Console scripts: `jaxstyle` (stylize), `jaxstyle-fast` (fast),
`jaxstyle-train-fast` (train_fast), `jaxstyle-video` (video); and
`python -m jaxstyle.weights` (weights). Nothing in the library imports this package.
"""
