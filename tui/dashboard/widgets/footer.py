"""The footer of keys, each key whole on one line at any width: where they do not all fit, the
palette's hint gives way first, then the keys its screen names, in that order (`give_way`);
those it does not name (`? Help`, `q Quit`) always stay. `?` lists every key either way."""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer

PALETTE = "palette"  # (in `give_way`: the `^p palette` hint on the right)


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


class KeyFooter(Footer):
    def __init__(self, give_way: tuple[str, ...] = (), **kw: object) -> None:
        super().__init__(compact=True, **kw)  # type: ignore[arg-type]
        self.give_way = give_way
        self._laid_for = 0  # the width the keys were last chosen for

    def compose(self) -> ComposeResult:
        made: list[Widget] = list(super().compose())  # (its keys: FooterKey widgets)
        room = self.app.size.width
        self._laid_for = room
        used = sum(key_width(k) for k in made)
        for name in self.give_way:
            if used <= room:
                break
            going = [k for k in made if _named(k) == name]
            made = [k for k in made if k not in going]
            used -= sum(key_width(k) for k in going)
        yield from made

    def on_resize(self) -> None:
        if self.app.size.width != self._laid_for:
            self.refresh(recompose=True)
