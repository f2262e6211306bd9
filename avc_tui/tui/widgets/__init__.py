"""Widgets of the TUI that Textual does not ship: a line chart and a confusion-matrix heat map."""
