"""Pure types shared by every part of the engine: money, inputs and outputs, states, errors.

Nothing in this package performs I/O, so workflows can import it through the sandbox.
"""
