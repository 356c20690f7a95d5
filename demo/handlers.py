"""Event handlers of the demo, testable without a browser: the output keys, and the handlers by name.

Each handler takes the session (and plain input values) and returns a dict ``{output key: value}``
with only what changed; :mod:`demo.ui` maps keys to components (:data:`OUTPUTS`). A value for a
key in :data:`PROP_KEYS` is a dict of component properties (an update), for every other key it is
the component's value. Problems the user can fix are shown with :func:`warn` and leave the
session as it was; model failures also add an error line under the conversation.

The handlers live by concern in :mod:`demo.image_handlers`, :mod:`demo.region_handlers`,
:mod:`demo.model_handlers` and :mod:`demo.api_handlers`; this module names them in one place.
"""

from __future__ import annotations

from demo.api_handlers import api_result, file_digest, parse_api_regions  # noqa: F401
from demo.errors import InputError, warn  # noqa: F401
from demo.image_handlers import (  # noqa: F401
    AXES, EXAMPLES_DIR, WINDOW_CHOICES, announce_new_image, change_slice, change_window, describe, image_outputs,
    last_files, load_example, load_examples, load_file, region_pick, suggestion_props)
from demo.model_handlers import (  # noqa: F401
    DEFAULT_MAX_NEW_TOKENS, REGENERATE_TEMPERATURE, REQUEST_TIME_LIMIT_S, STOPPED, ModelHandlers, chat_outputs,
    check_question, clear_chat, restyle)
from demo.region_handlers import (  # noqa: F401
    clear_regions, insert_reference, remove_region, stroke, undo_region)

OUTPUTS = ("upload", "editor", "preview", "info", "window", "slice", "axis", "regions", "region_pick", "chat",
           "question", "overlay", "legend", "files", "suggestions", "session")
PROP_KEYS = {"window", "slice", "axis", "region_pick", "suggestions"}
