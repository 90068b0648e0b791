"""A bound of the plan model said as it is: `gt`, `ge`, `lt` and `le` each in its own words."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest
from msgspec import Meta

from phasegate.engine.plan.convert import locate
from phasegate.engine.plan.messages import issue_message


@pytest.mark.parametrize(
    ("meta", "value", "said"),
    [
        (Meta(gt=0), 0.0, "must be more than 0, got the number 0.0"),
        (Meta(ge=1), 0.5, "must be 1 or more, got the number 0.5"),
        (Meta(lt=10), 10.0, "must be less than 10, got the number 10.0"),
        (Meta(le=10), 11.0, "must be 10 or less, got the number 11.0"),
        # a whole number's bound is said as msgspec checks it (`budget: {tokens: 0}` said
        # "must be None or less")
        (Meta(gt=0), 0, "must be 1 or more, got the number 0"),
        (Meta(lt=10), 10, "must be 9 or less, got the number 10"),
    ],
)
def test_each_bound_is_said_in_its_own_words(meta: Meta, value: float, said: str) -> None:
    box = msgspec.defstruct("Box", [("n", Annotated[type(value), meta])])
    data = {"n": value}
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert(data, box, strict=True)
    issue = locate(str(caught.value), data, box)
    assert issue is not None and issue.path == ("n",)
    assert issue_message(issue, value) == said
