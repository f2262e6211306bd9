"""The avc terminal UI: a dashboard of the registry's experiments and screens around it."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from avc_tui.registry import Registry, RegistryError
from avc_tui.tui.screens.dashboard import DashboardScreen


class AvcApp(App):
    """``avc tui``. Reads and writes the registry at ``db`` (see ``avc_tui.registry``)."""

    CSS_PATH = "app.tcss"
    TITLE = "avc"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?", show=False),
        Binding("t", "toggle_dark", "Theme", show=False),
    ]

    def __init__(self, db: str | None = None) -> None:
        super().__init__()
        self.registry = Registry(db)
        self.sub_title = self.registry.url.removeprefix("sqlite:///")

    def on_mount(self) -> None:
        self.push_screen(DashboardScreen())

    def on_unmount(self) -> None:
        self.registry.close()

    def action_help(self) -> None:
        from avc_tui.tui.screens.dialogs import HelpScreen

        self.push_screen(HelpScreen())

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    # --- operations shared by the screens -------------------------------------------------------

    def cancel_experiment(self, experiment_id: int) -> None:
        try:
            row = self.registry.request_cancel(experiment_id)
        except RegistryError as error:
            self.notify(error.message, severity="error")
            return
        if row.status not in ("running", "queued"):
            self.notify(f"experiment {experiment_id} is {row.status}, not running",
                        severity="warning")
            return
        if row.status == "running" and row.host == socket.gethostname() and row.pid:
            try:
                os.kill(row.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.notify(f"experiment {experiment_id}: cancel requested")

    def resume_experiment(self, experiment_id: int) -> None:
        from avc_tui.runner.devices import available_devices, plan_slots
        from avc_tui.runner.executor import Job, LocalExecutor

        try:
            self.registry.mark_lost()
            row = self.registry.get(experiment_id)
        except RegistryError as error:
            self.notify(error.message, severity="error")
            return
        if row.status not in ("cancelled", "lost", "failed"):
            self.notify(f"experiment {experiment_id} is {row.status}; only cancelled, lost or "
                        "failed runs can be resumed", severity="warning")
            return
        slot = plan_slots(available_devices(), 1)[0]
        try:
            if not self.registry.requeue(experiment_id):  # before the worker marks it running
                self.notify(f"experiment {experiment_id} changed state meanwhile",
                            severity="warning")
                return
            LocalExecutor().submit(Job(experiment_id, self.registry.url, slot,
                                       Path(row.run_dir) / "worker.log", resume=True))
        except Exception as error:  # noqa: BLE001 - shown, never a crash
            self.notify(f"cannot resume experiment {experiment_id}: {error}", severity="error")
            return
        self.notify(f"experiment {experiment_id}: resuming in the background")

    def delete_experiment(self, experiment_id: int) -> bool:
        try:
            row = self.registry.get(experiment_id)
            if row.status == "running":
                self.notify(f"experiment {experiment_id} is running: cancel it first",
                            severity="warning")
                return False
            self.registry.delete(experiment_id)
        except RegistryError as error:
            self.notify(error.message, severity="error")
            return False
        self.notify(f"experiment {experiment_id} deleted")
        return True
