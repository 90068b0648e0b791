"""The footer of keys, each key whole on one line: every key of the screen shows at 80x24 (the
team's rule), on a second line where one does not hold them all (as a live run's does, with the
selected task's keys: about 125 columns). A terminal of fewer lines than that (where the task
table needs every line) keeps one line; there, and where two lines are still too few, the
palette's hint gives way first, then the keys its screen names, in that order (`give_way`);
those it does not name (`? Help`, `q Quit`) always stay. `?` lists every key either way."""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.widget import Widget
from textual.widgets import Footer

PALETTE = "palette"  # (in `give_way`: the `^p palette` hint on the right)
ROWS = 2  # the most lines the footer takes, on a terminal of at least TALL lines
TALL = 24  # (80x24's: a shorter terminal gives its lines to the task table)


def action_name(action: str) -> str:
    """`priority(1)` -> `priority`; `app.quit` -> `quit`."""
    return action.split("(", 1)[0].rsplit(".", 1)[-1]


def key_width(key: Widget) -> int:
    """The columns a footer key takes in the compact footer: `? Help` and the space after it
    (the palette's hint: its bar before it too)."""
    shown, what = str(getattr(key, "key_display", "")), str(getattr(key, "description", ""))
    words = cell_len(shown) + (1 + cell_len(what) if what else 0)
    return words + (2 if key.has_class("-command-palette") else 1)


def _named(key: Widget) -> str:
    """What a footer key does, as `give_way` names it."""
    if key.has_class("-command-palette"):
        return PALETTE
    return action_name(str(getattr(key, "action", "")))


def lines_of(keys: list[Widget], room: int) -> list[list[Widget]]:
    """The keys in lines of `room` columns, in their order, each key whole; the palette's hint
    (on the right) at the end of the last line."""
    hint = [k for k in keys if k.has_class("-command-palette")]
    lines: list[list[Widget]] = [[]]
    used = 0
    for key in [k for k in keys if k not in hint] + hint:
        width = key_width(key)
        if lines[-1] and used + width > room:
            lines.append([])
            used = 0
        lines[-1].append(key)
        used += width
    return lines


class SteadyFooter(Footer):
    """Textual's footer, built again only when what it shows changed. Textual's rebuilds its
    keys (a widget each, styled anew) at every change of the screen's bindings: a focus moved, a
    key enabled or not, a run's event that asks the keys again, though none of them changed."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self._shown: object = None  # what the keys were last built from

    def _showing(self) -> object:
        """What the keys are built from: the screen's shown bindings, the terminal's size."""
        keys = tuple(
            (key, b.key, b.action, b.description, b.key_display, enabled, tooltip)
            for key, (_, b, enabled, tooltip) in self.screen.active_bindings.items()
            if b.show or key == self.app.COMMAND_PALETTE_BINDING
        )
        return (keys, tuple(self.app.size), self.show_command_palette, self.compact)

    async def recompose(self) -> None:
        if self.is_attached and self._bindings_ready:
            showing = self._showing()
            if showing == self._shown and self.children:
                return
            self._shown = showing
        await super().recompose()


class FooterRow(HorizontalGroup):
    """One line of a footer of two."""

    DEFAULT_CSS = "FooterRow { width: 1fr; height: 1; }"


class KeyFooter(SteadyFooter):
    DEFAULT_CSS = f"KeyFooter.-rows {{ layout: vertical; height: {ROWS}; }}"

    def __init__(self, give_way: tuple[str, ...] = (), **kw: object) -> None:
        super().__init__(compact=True, **kw)
        self.give_way = give_way
        self._laid_for = (0, 0)  # the size the keys were last chosen for
        self._lines = 1  # the lines they took at that size (kept: the table's rows stay put)

    def compose(self) -> ComposeResult:
        made: list[Widget] = list(super().compose())  # (its keys: FooterKey widgets)
        room, height = self.app.size
        if (room, height) != self._laid_for:
            self._laid_for, self._lines = (room, height), 1
        most = ROWS if height >= TALL else 1
        lines = lines_of(made, room)
        for name in self.give_way:
            if len(lines) <= most:
                break
            made = [k for k in made if _named(k) != name]
            lines = lines_of(made, room)
        if len(lines) > most:  # (what none of them names stays, on the last line)
            lines = [*lines[: most - 1], [k for line in lines[most - 1 :] for k in line]]
        # (a task's keys come and go with the selection: the footer's height stays)
        self._lines = max(self._lines, len(lines))
        self.set_class(self._lines > 1, "-rows")
        if self._lines == 1:
            yield from lines[0]
            return
        for line in lines:
            with FooterRow():
                yield from line

    def on_mount(self) -> None:
        super().on_mount()
        # (laid out again when the terminal's width or height changes: its own size follows
        # only the width)
        self.screen.screen_layout_refresh_signal.subscribe(self, self._resized)

    def on_unmount(self) -> None:
        self.screen.screen_layout_refresh_signal.unsubscribe(self)
        super().on_unmount()

    def _resized(self, _: object = None) -> None:
        size = self.app.size
        if (size.width, size.height) != self._laid_for:
            self._laid_for, self._lines = (size.width, size.height), 1  # (asked once)
            self.refresh(recompose=True)

    def on_resize(self) -> None:
        self._resized()
