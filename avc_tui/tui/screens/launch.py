"""Launch: a form for one run or a grid, validated before anything starts. The new runs are
registered at once (so they appear on the dashboard) and run in background workers."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Select, SelectionList, Static

from core.data import layout_features, layout_names

DEFAULT_BACKBONE = "vgg16"
from core.errors import AvcError


@dataclass
class LaunchRequest:
    """What the form holds, as text; :func:`build_configs` validates it."""

    root: str
    layout: str
    split: str
    backbones: list[str]
    heads: list[str]
    preset: str
    epochs: str
    weights: str
    input_size: str
    normalize: str
    jobs: str


def _optional_int(value: str, what: str) -> int | None:
    from core.errors import ConfigError

    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{what} must be a whole number of at least 1, not {value!r}")
    return int(value)


def build_configs(request: LaunchRequest):
    """The experiment configs of ``request``; raises ``AvcError`` with what is wrong."""
    from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig
    from core.errors import ConfigError
    from core.experiment import open_dataset

    if not request.root.strip():
        raise ConfigError("enter the dataset folder")
    if not request.backbones or not request.heads:
        raise ConfigError("choose at least one backbone and one head")
    root = Path(request.root.strip()).expanduser()
    epochs = _optional_int(request.epochs, "epochs")
    size = _optional_int(request.input_size, "input size")
    _optional_int(request.jobs, "jobs")
    split = request.split.strip() or "abdn"
    configs = [
        ExperimentConfig(
            data=DataConfig(str(root.resolve()), layout=request.layout, split=split),
            features=FeatureConfig(b, weights=request.weights.strip() or "imagenet",
                                   input_size=size),
            head=HeadConfig(h, normalize=request.normalize),
            train=TrainConfig(request.preset, epochs=epochs))
        for b in request.backbones for h in request.heads
    ]
    open_dataset(configs[0])  # the folder exists and holds videos in that layout
    if request.weights.strip() == "imagenet":
        from core.backbones import find_imagenet_weights, get_backbone_spec

        for backbone in request.backbones:
            if get_backbone_spec(backbone).kind == "cnn":  # frames and given features have none
                find_imagenet_weights(get_backbone_spec(backbone))
    return configs


class LaunchScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"),
                Binding("ctrl+s", "launch", "Launch")]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            for label, widget in (
                ("dataset folder", Input(id="root", placeholder="ROOT/<class>/<video>")),
                ("layout", Select([(name, name) for name in layout_names()], value="folders",
                                  allow_blank=False, id="layout")),
                ("split", Input("abdn", id="split", placeholder="abdn or an official split number")),
                ("backbones", SelectionList(id="backbones")),
                ("heads", SelectionList(id="heads")),
                ("preset", Select([("abdn (paper)", "abdn"), ("modern", "modern")],
                                  value="abdn", allow_blank=False, id="preset")),
                ("epochs", Input(id="epochs", placeholder="the preset's", type="integer")),
                ("weights", Input("imagenet", id="weights",
                                  placeholder="imagenet, none or a file")),
                ("input size", Input(id="input-size", placeholder="224", type="integer")),
                ("normalize", Select([("none (ABDN)", "none"), ("dataset", "dataset"),
                                      ("video (random weights)", "video")], value="none",
                                     allow_blank=False, id="normalize")),
                ("jobs at once", Input(id="jobs", placeholder="one per GPU, or 1",
                                       type="integer")),
            ):
                with Horizontal(classes="form-row"):
                    yield Label(label)
                    yield widget
            yield Static("", id="form-error")
            with Horizontal(classes="form-row"):
                yield Button("Launch", id="launch", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#root", Input).focus()
        self.load_choices()

    @work(thread=True, exit_on_error=False)
    def load_choices(self) -> None:
        from core.backbones import backbone_names
        from core.models.registry import head_names

        backbones = [(b, b, b == DEFAULT_BACKBONE) for b in backbone_names()]
        heads = [(h, h, h in head_names(abdn_only=True)) for h in head_names()]
        self.app.call_from_thread(self._fill, backbones, heads)

    def _fill(self, backbones, heads) -> None:
        self.query_one("#backbones", SelectionList).add_options(backbones)
        self.query_one("#heads", SelectionList).add_options(heads)

    @on(Select.Changed, "#layout")
    def layout_changed(self, event: Select.Changed) -> None:
        """A layout that comes with its features (youtube8m) takes only its own backbone."""
        from core.backbones import get_backbone_spec

        provided = layout_features(str(event.value))
        backbones = self.query_one("#backbones", SelectionList)
        if not any(o.value == DEFAULT_BACKBONE for o in backbones.options):
            return  # the lists are still loading
        if provided is not None:
            backbones.deselect_all()
            backbones.select(provided)
        elif any(get_backbone_spec(b).kind == "precomputed" for b in backbones.selected):
            backbones.deselect_all()  # back to videos: their backbones
            backbones.select(DEFAULT_BACKBONE)

    def request(self) -> LaunchRequest:
        def value(selector: str) -> str:
            return str(self.query_one(selector).value)

        return LaunchRequest(
            root=value("#root"), layout=value("#layout"), split=value("#split"),
            backbones=list(self.query_one("#backbones", SelectionList).selected),
            heads=list(self.query_one("#heads", SelectionList).selected),
            preset=value("#preset"), epochs=value("#epochs"), weights=value("#weights"),
            input_size=value("#input-size"), normalize=value("#normalize"), jobs=value("#jobs"))

    @on(Button.Pressed, "#launch")
    def action_launch(self) -> None:
        self.query_one("#form-error", Static).update("checking…")
        self.launch(self.request())

    @work(thread=True, exclusive=True, exit_on_error=False)
    def launch(self, request: LaunchRequest) -> None:
        try:
            configs = build_configs(request)
        except AvcError as error:
            message = error.message + (f" ({error.hint})" if error.hint else "")
            self.app.call_from_thread(self.query_one("#form-error", Static).update, message)
            return
        registry = self.app.registry
        tags = ["tui"] if len(configs) == 1 else ["tui", "grid"]
        try:
            ids = [registry.create(c, tags=tags).id for c in configs]
            start_jobs(registry, ids, request.jobs.strip())
        except Exception as error:  # noqa: BLE001 - e.g. a run folder that cannot be made
            self.app.call_from_thread(self.query_one("#form-error", Static).update,
                                      f"could not start: {error}")
            return
        self.app.call_from_thread(self.launched, ids)

    def launched(self, ids: list[int]) -> None:
        what = f"experiment {ids[0]}" if len(ids) == 1 else f"{len(ids)} experiments " \
                                                             f"({ids[0]}–{ids[-1]})"
        self.app.notify(f"launched {what}")
        self.app.pop_screen()


def start_jobs(registry, ids: list[int], jobs: str) -> None:
    """One experiment: a detached worker; several: a detached batch runner (``avc grid``'s
    scheduling), so the runs go on when the TUI closes."""
    if len(ids) == 1:
        from avc_tui.runner.devices import available_devices, plan_slots
        from avc_tui.runner.executor import Job, LocalExecutor

        row = registry.get(ids[0])
        slot = plan_slots(available_devices(), 1)[0]
        LocalExecutor().submit(Job(ids[0], registry.url, slot, Path(row.run_dir) / "worker.log"))
        return
    log = Path(registry.get(ids[0]).run_dir).parent / f"batch-{ids[0]}-{ids[-1]}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "avc_tui.runner.batch", "--db", registry.url,
               *(["--jobs", jobs] if jobs else []), *map(str, ids)]
    with open(log, "ab") as handle:
        subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=handle,
                         stderr=subprocess.STDOUT, start_new_session=True)
