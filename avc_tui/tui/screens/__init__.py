"""The screens of the TUI: dashboard, experiment, compare, predict, launch, and small dialogs."""
