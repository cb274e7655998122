"""Passes over the IR: plain functions that return new data and never mutate the IR."""
