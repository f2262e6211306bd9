"""Launch: a form for one run or a grid, validated before anything starts. The new runs are
registered at once (so they appear on the dashboard) and run in background workers."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Select, SelectionList, Static

from avc_tui import control
from avc_tui.control import DEFAULT_BACKBONE, LaunchRequest
from core.data import layout_features, layout_names
from core.errors import AvcError, ConfigError


@dataclass
class LaunchForm:
    """What the form holds, as text; :meth:`request` checks the numbers."""

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
    executor: str = "local"
    gpus_per_job: str = ""
    precision: str = "auto"
    loading: str = "auto"
    processes: str = ""

    def request(self) -> LaunchRequest:
        """The launch request; raises ``ConfigError`` for a field that is not a number."""
        if not self.root.strip():
            raise ConfigError("enter the dataset folder",
                              hint="the folder that holds ROOT/<class>/<video>")
        if not self.backbones or not self.heads:
            raise ConfigError("choose at least one backbone and one head",
                              hint="tick them in the two lists (space toggles)")
        return LaunchRequest(
            self.root.strip(), backbones=self.backbones, heads=self.heads, layout=self.layout,
            split=self.split.strip() or "abdn", weights=self.weights.strip() or "imagenet",
            input_size=_optional_int(self.input_size, "input size"), normalize=self.normalize,
            preset=self.preset, epochs=_optional_int(self.epochs, "epochs"),
            precision=self.precision, loading=self.loading,
            processes=_optional_int(self.processes, "processes") or 1)

    def job_count(self) -> int | None:
        return _optional_int(self.jobs, "jobs")

    def execution(self) -> control.Execution:
        """Where the runs go; raises ``ConfigError`` for a share of a GPU that is not a
        number or out of range."""
        text = self.gpus_per_job.strip()
        try:
            gpus = float(text) if text else None
        except ValueError:
            raise ConfigError(f"GPUs per job must be a number, not {text!r}",
                              hint="e.g. 0.25 (four jobs per GPU), or leave it empty") from None
        return control.Execution(self.executor, gpus_per_job=gpus)


def _optional_int(value: str, what: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{what} must be a whole number of at least 1, not {value!r}",
                          hint="leave it empty for the default")
    return int(value)


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
                ("precision", Select([("auto (GPU fp16, CPU bf16 where native)", "auto"),
                                      ("fp32", "fp32"), ("bf16", "bf16"), ("fp16", "fp16")],
                                     value="auto",
                                     allow_blank=False, id="precision")),
                ("YouTube-8M reading", Select([("auto (a stream when it would not fit)", "auto"),
                                               ("into memory", "memory"),
                                               ("stream the shards", "stream")],
                                              value="auto", allow_blank=False, id="loading")),
                ("processes", Input(id="processes", placeholder="1 (DDP: one per GPU)",
                                    type="integer")),
                ("jobs at once", Input(id="jobs", placeholder="one per GPU, or 1",
                                       type="integer")),
                ("executor", Select([("local processes", "local"), ("Ray", "ray")],
                                    value="local", allow_blank=False, id="executor")),
                ("GPUs per job", Input(id="gpus-per-job", placeholder="1 (0.25: four a GPU)",
                                       type="number")),
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
        from core.backbones import BackboneKind, get_backbone_spec

        provided = layout_features(str(event.value))
        backbones = self.query_one("#backbones", SelectionList)
        if not any(o.value == DEFAULT_BACKBONE for o in backbones.options):
            return  # the lists are still loading
        if provided is not None:
            backbones.deselect_all()
            backbones.select(provided)
        elif any(get_backbone_spec(b).kind == BackboneKind.PRECOMPUTED for b in backbones.selected):
            backbones.deselect_all()  # back to videos: their backbones
            backbones.select(DEFAULT_BACKBONE)

    def form(self) -> LaunchForm:
        def value(selector: str) -> str:
            return str(self.query_one(selector).value)

        return LaunchForm(
            root=value("#root"), layout=value("#layout"), split=value("#split"),
            backbones=list(self.query_one("#backbones", SelectionList).selected),
            heads=list(self.query_one("#heads", SelectionList).selected),
            preset=value("#preset"), epochs=value("#epochs"), weights=value("#weights"),
            input_size=value("#input-size"), normalize=value("#normalize"), jobs=value("#jobs"),
            executor=value("#executor"), gpus_per_job=value("#gpus-per-job"),
            precision=value("#precision"), loading=value("#loading"),
            processes=value("#processes"))

    @on(Button.Pressed, "#launch")
    def action_launch(self) -> None:
        self.show_error("checking…")
        self.launch(self.form())

    @work(thread=True, exclusive=True, exit_on_error=False)
    def launch(self, form: LaunchForm) -> None:
        try:
            planned = control.plan_grid(form.request())
            jobs = form.job_count()
            execution = form.execution()
            control.check_execution(execution)
            # The folder holds videos that open; weights asked for are here.
            control.check_launch(planned.configs)
        except AvcError as error:
            message = error.message + (f"\nhint: {error.hint}" if error.hint else "")
            self.app.call_from_thread(self.show_error, message)
            return
        registry = self.app.registry
        try:
            if len(planned.configs) == 1:
                ids = [row.id for row in control.register(registry, planned.configs,
                                                          tags=["tui"])]
            else:  # a grid: one group, as `avc grid` registers it
                _, rows = control.register_group(registry, planned, tags=["tui", "grid"])
                ids = [row.id for row in rows]
            if len(ids) == 1:
                control.start_background(registry, ids[0], execution=execution)
            else:  # a batch runner: the runs go on when the TUI closes
                control.start_batch_background(registry, ids, jobs=jobs, execution=execution)
        except Exception as error:  # noqa: BLE001 - e.g. a run folder that cannot be made
            self.app.call_from_thread(self.show_error,
                                      f"could not start: {error}")
            return
        self.app.call_from_thread(self.launched, ids)

    def show_error(self, message: str) -> None:
        """Say what is wrong below the form, scrolled into view (the form is taller than most
        terminals)."""
        self.query_one("#form-error", Static).update(message)
        # The message sits at the bottom of the form: show all of it once it is laid out.
        self.call_after_refresh(self.query_one(VerticalScroll).scroll_end, animate=False)

    def launched(self, ids: list[int]) -> None:
        what = f"experiment {ids[0]}" if len(ids) == 1 else f"{len(ids)} experiments " \
                                                             f"({ids[0]}–{ids[-1]})"
        self.app.notify(f"launched {what}")
        self.app.pop_screen()

