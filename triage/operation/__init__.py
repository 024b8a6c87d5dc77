"""Keeping the guarantee in operation: policy states, audit sampling, the watch, re-certification."""
