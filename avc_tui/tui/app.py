"""The avc terminal UI: a dashboard of the registry's experiments and screens around it."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App
from textual.binding import Binding

from avc_tui import control
from avc_tui.registry import Registry
from avc_tui.tui.screens.dashboard import DashboardScreen
from avc_tui.tui.screens.dialogs import HelpScreen
from core.errors import AvcError


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
        self.push_screen(HelpScreen())

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    # --- operations shared by the screens (each one the control layer's) -------------------------

    def _attempt(self, what: str, action: Callable[[], object], done: str) -> bool:
        """Run a control-layer operation; its refusal (an ``AvcError``) or any failure (a
        database that does not answer) is a notification, never a crash."""
        try:
            action()
        except AvcError as error:
            self.notify(error.message, severity="warning")
            return False
        except Exception as error:  # noqa: BLE001 - shown, never a crash
            self.notify(f"cannot {what}: {error}", severity="error")
            return False
        self.notify(done)
        return True

    def cancel_experiment(self, experiment_id: int) -> None:
        self._attempt(f"cancel experiment {experiment_id}",
                      lambda: control.cancel(self.registry, experiment_id),
                      f"experiment {experiment_id}: cancel requested")

    def resume_experiment(self, experiment_id: int) -> None:
        def resume() -> None:
            control.requeue_for_resume(self.registry, experiment_id)
            control.start_background(self.registry, experiment_id, resume=True)

        self._attempt(f"resume experiment {experiment_id}", resume,
                      f"experiment {experiment_id}: resuming in the background")

    def delete_experiment(self, experiment_id: int) -> bool:
        return self._attempt(f"delete experiment {experiment_id}",
                             lambda: control.delete(self.registry, [experiment_id]),
                             f"experiment {experiment_id} deleted")

    def cancel_group(self, group_id: int) -> None:
        self._attempt(f"cancel group {group_id}",
                      lambda: control.cancel_group(self.registry, group_id),
                      f"group {group_id}: cancel requested")

    def resume_group(self, group_id: int) -> None:
        def resume() -> None:
            ids = control.requeue_group(self.registry, group_id)
            control.start_batch_background(self.registry, ids, resume=True)

        self._attempt(f"resume group {group_id}", resume,
                      f"group {group_id}: resuming in the background")

    def delete_group(self, group_id: int) -> bool:
        return self._attempt(f"delete group {group_id}",
                             lambda: control.delete_group(self.registry, group_id),
                             f"group {group_id} deleted")
