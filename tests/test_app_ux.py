"""What a newcomer trips over (issue 11, section 1): one test or more per numbered item, through AppTest."""

from __future__ import annotations

import pytest

from test_app import assert_clean, button, demo_dir, open_app, with_demo  # noqa: F401


# --- 2. the seed recipe's drop follows the epochs -----------------------------------------------------
def test_the_seed_recipes_drop_follows_the_epochs_until_edited(with_demo):
    at = open_app("Train")
    at.radio(key="recipe").set_value("seed").run()
    assert at.text_input(key="drops-seed").value == "8:0.0005"
    at.number_input(key="epochs").set_value(3).run()
    assert_clean(at)
    assert at.text_input(key="drops-seed").value == "2:0.0005"
    assert not button(at, "Start training").disabled
    at.text_input(key="drops-seed").set_value("3:0.0001").run()  # by hand: it stays
    at.number_input(key="epochs").set_value(5).run()
    assert at.text_input(key="drops-seed").value == "3:0.0001"
    assert_clean(at)
