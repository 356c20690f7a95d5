"""The Gradio 6 Blocks app: layout by panel, event wiring by concern and launch settings (handlers: demo.handlers).

    from demo.ui import build_app, launch
    launch(build_app(MedPLIB.from_pretrained()))
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import gradio as gr

from demo import asking, files, guard, logs
from demo import handlers as h
from demo import runtime
from demo import views
from demo.errors import is_user_error, log_failure
from demo.mcp import HISTORY_SCHEMA, REGIONS_SCHEMA, JSONArg
from demo.session import Session, end_session, session_delete_callback
from demo.style import CSS, brush, theme
from demo.strokes import MODES, POINT_FRACTION

# the model events share the model's batch; a request holds the model for at most time_limit seconds
MODEL = {"concurrency_limit": runtime.model_concurrency(), "concurrency_id": "model", "time_limit": h.REQUEST_TIME_LIMIT_S}
UI = {"api_visibility": "private"}  # UI-only events stay out of the API
MAX_FILE_SIZE = "200mb"
DELETE_CACHE = (900, 3600)  # Gradio's own temp files: every 15 min, delete those older than 1 h
# what the model events change: never the editor (an output of a running event blanks and freezes the canvas)
CHAT_KEYS = ("chat", "overlay", "legend", "files", "session")

API_DESCRIPTION = """Ask MedPLIB about an image. Inputs: `image` (PNG / JPEG / TIFF / DICOM / NIfTI file),
`question` (refer to regions as <region1>, <region2>, ...), `regions` (JSON list of {"point": [x, y]} or
{"box": [x1, y1, x2, y2]} in pixels of the image), `region_masks` (mask images, one region each, after the
JSON regions), `history` (earlier [question, answer] pairs), `max_new_tokens`, `temperature` (0 = greedy).
Outputs: answer text, one PNG per <SEG> mask (0/255, image size), an overlay PNG, details (scores, areas).
Streams the growing answer text first."""

def to_outputs(d: dict, keys: tuple[str, ...] = h.OUTPUTS) -> tuple:
    """A handler's ``{key: value}`` as a tuple in ``keys`` order (skip the rest); ``d["brush"]`` (the number
    of regions) sets the editor's brush to the next region's colour."""
    out = []
    for key in keys:
        if key == "editor" and "brush" in d:
            out.append(gr.update(brush=brush(d["brush"]), **({"value": d["editor"]} if "editor" in d else {})))
        elif key not in d:
            out.append(gr.skip())
        elif key in SHOWN_WHEN_SET:  # no empty box (its "Empty value" placeholder is not accessible)
            out.append(gr.update(value=d[key], visible=d[key] is not None))
        elif key in h.PROP_KEYS:
            out.append(gr.update(**d[key]))
        else:
            out.append(d[key])
    return tuple(out)


SHOWN_WHEN_SET = {"preview", "overlay", "files"}  # shown only while they have a value

# the handlers' output keys whose component has another name here ("slice" is a builtin)
COMPONENT_OF = {"slice": "slice_", "chat": "chatbot"}


def build_app(medplib: Any, generate_kwargs: dict | None = None, examples: list[dict] | None = None) -> gr.Blocks:
    """The demo around one loaded `MedPLIB` (shared by all sessions; everything else is per session).
    ``generate_kwargs`` go into every generation call and override the UI's settings."""
    model = h.ModelHandlers(medplib, generate_kwargs)
    examples = h.load_examples() if examples is None else examples

    with gr.Blocks(title="MedPLIB — medical image chat & grounding", delete_cache=DELETE_CACHE,
                   analytics_enabled=False) as demo:
        ui = SimpleNamespace(session=gr.State(Session(), delete_callback=session_delete_callback))
        gr.Markdown("# MedPLIB — ask about a medical image, its regions, and get masks",
                    elem_classes="medplib-title")
        gr.HTML(views.notice_html(medplib))

        with gr.Row(equal_height=False, elem_id="medplib-main"):
            # ---------------- left: image, drawing, regions, examples ----------------
            with gr.Column(scale=5, min_width=380, elem_id="medplib-left"):
                with gr.Column(elem_id="medplib-image-block"):
                    image_panel(ui, examples)
                region_tools(ui)

            # ---------------- right: chat, controls, masks ----------------
            with gr.Column(scale=6, min_width=380, elem_id="medplib-right"):
                chat_panel(ui)
                # whole-volume grounding ("Segment in all slices", shown for volumes only): demo.volume_handlers
                from demo.volume_handlers import volume_panel
                volume_panel(ui, model, UI)

        api_components(ui)  # programmatic API (hidden components)
        outs = [getattr(ui, COMPONENT_OF.get(k, k)) for k in h.OUTPUTS]
        wire_image_events(ui, outs, examples)
        wire_region_events(ui, outs)
        wire_chat_events(ui, outs, model)
        wire_api(ui, model)

        def on_unload(request: gr.Request):
            end_session(getattr(request, "session_hash", None))

        demo.unload(on_unload)

    demo.queue(max_size=64, default_concurrency_limit=8)
    return demo


def image_panel(ui: SimpleNamespace, examples: list[dict]) -> None:
    """Examples, upload, image info, CT window / slice controls, stroke mode and the drawing editor."""
    with gr.Tabs():
        with gr.Tab("Examples"):  # short tab names: both stay visible on a phone
            ui.gallery = gr.Gallery([(e["path"], e.get("modality", "").replace("_", "-")) for e in examples],
                                    label="Synthetic examples, one per modality", columns=4, rows=2, height=270,
                                    allow_preview=False, interactive=False, object_fit="cover", buttons=[])
        with gr.Tab("Upload"):
            ui.upload = UploadFile(label="PNG, JPEG, TIFF (8/16-bit), DICOM (.dcm) or NIfTI (.nii, .nii.gz)",
                                   file_count="single", height=250, elem_id="medplib-upload")
    ui.info = gr.Markdown(h.describe(None))
    with gr.Row():
        ui.window = gr.Dropdown(h.WINDOW_CHOICES, value="auto", label="Window", visible=False,
                                info="CT presets: abdomen, lung, bone, brain", min_width=140)
        ui.axis = gr.Radio(list(h.AXES), value="axial", label="Slice axis", visible=False, min_width=200)
        ui.slice_ = gr.Slider(1, 2, value=1, step=1, label="Slice", visible=False, min_width=200,
                              elem_id="medplib-slice")
    with gr.Row():
        ui.mode = gr.Radio(list(MODES), value="Box", label="A stroke marks", scale=3,
                           info="Point: a square at the stroke's centre · Box: its bounding box · "
                                "Free-form: the filled shape")
        ui.point_size = gr.Slider(1, 20, value=round(POINT_FRACTION * 100), step=1, scale=2, min_width=160,
                                  label="Point size (% of the image)")
    # eraser: only cleans the canvas (remove regions with the buttons); it must stay enabled,
    # the editor's toolbar breaks without it
    ui.editor = gr.ImageEditor(
        label="Draw regions", type="numpy", image_mode="RGBA",
        format="png", sources=(), transforms=(), layers=gr.LayerOptions(allow_additional_layers=False),
        brush=brush(0), eraser=gr.Eraser(), buttons=["fullscreen"], height=520, elem_id="medplib-editor",
        placeholder="Pick an example or upload a file above, then draw here.")


def region_tools(ui: SimpleNamespace) -> None:
    """The numbered-regions preview, the region list and its buttons."""
    with gr.Row(equal_height=False, elem_id="medplib-tools"):
        ui.preview = gr.Image(label="What the model sees (numbered regions)", interactive=False,
                              type="filepath", height=260, buttons=["fullscreen"], scale=1, elem_id="medplib-preview",
                              alt_text="The image with the numbered regions the model is given", visible=False)
        with gr.Column(scale=1, min_width=200):
            ui.regions = gr.HTML(views.regions_html(Session()))
            ui.region_pick = gr.Dropdown([], label="Region", allow_custom_value=False)
            with gr.Row():
                ui.insert_btn = gr.Button("Insert region in question", size="sm", min_width=0)
                ui.remove_btn = gr.Button("Remove region", size="sm", min_width=0)
            with gr.Row():
                ui.undo_btn = gr.Button("Undo last stroke", size="sm", min_width=0)
                ui.clear_regions_btn = gr.Button("Clear regions", size="sm", min_width=0)


def chat_panel(ui: SimpleNamespace) -> None:
    """Conversation, question box and buttons, suggestions, answer settings, overlay, legend and mask files."""
    ui.chatbot = gr.Chatbot(label="Conversation", height=440, feedback_options=None,
                            buttons=["copy"], sanitize_html=True, elem_id="medplib-chat",
                            placeholder="Ask about the image, about a region you drew (`<region1>`), or ask "
                                        "for a segmentation (*Please segment the liver lesion.*).")
    with gr.Row():
        ui.question = gr.Textbox(label="Question", show_label=False, placeholder="Type a question and press Enter",
                                 scale=5, max_lines=4, submit_btn=False, elem_id="medplib-question")
        ui.ask_btn = gr.Button("Ask", variant="primary", scale=1, min_width=80)
        ui.stop_btn = gr.Button("Stop", variant="stop", scale=1, min_width=80, visible=False)
    with gr.Row():
        ui.regen_btn = gr.Button("Regenerate", size="sm")
        ui.clear_btn = gr.Button("Clear conversation", size="sm")
    ui.suggestions = gr.Dataset(components=[ui.question], samples=[], label="Suggested questions",
                                samples_per_page=6, visible=False)
    with gr.Accordion("Answer settings", open=False):
        ui.max_tokens = gr.Slider(8, 512, value=h.DEFAULT_MAX_NEW_TOKENS, step=8, label="Max answer tokens")
        ui.temperature = gr.Slider(0.0, 1.5, value=0.0, step=0.05, label="Temperature",
                                   info="0 = greedy. Regenerate samples at 0.7 when this is 0.")
    with gr.Row(equal_height=False):
        ui.overlay = gr.Image(label="Latest masks", interactive=False, type="filepath", visible=False,
                              alt_text="The latest grounded answer's masks over the image",
                              height=300, buttons=["download", "fullscreen"], scale=1, elem_id="medplib-overlay")
        with gr.Column(scale=1, min_width=220):
            ui.legend = gr.HTML(views.legend_html(Session()))
            ui.opacity = gr.Slider(0.0, 1.0, value=0.45, step=0.05, label="Mask opacity")
            ui.contours = gr.Checkbox(value=True, label="Contours")
    ui.files = gr.File(label="Download masks (PNG 0/255, NIfTI 0/1 with pixel spacing)",
                       file_count="multiple", interactive=False, height=110, visible=False)


def api_components(ui: SimpleNamespace) -> None:
    """The hidden inputs and outputs of the /ask endpoint, and its own session state."""
    with gr.Column(visible=False, elem_id="medplib-hidden-api"):
        ui.api_image = UploadFile(label="image")
        ui.api_question = gr.Textbox(label="question")
        ui.api_regions = JSONArg(REGIONS_SCHEMA, value=[], label="regions")  # a real schema for MCP (demo.mcp)
        ui.api_masks = UploadFile(value=[], file_count="multiple", label="region_masks")
        ui.api_history = JSONArg(HISTORY_SCHEMA, value=[], label="history")
        ui.api_max = RawNumber(value=h.DEFAULT_MAX_NEW_TOKENS, precision=0, label="max_new_tokens")
        ui.api_temp = RawNumber(value=0.0, label="temperature")
        ui.api_answer = gr.Textbox(label="answer")
        ui.api_files = gr.File(file_count="multiple", label="masks")
        ui.api_overlay = gr.Image(type="filepath", label="overlay", format="png")
        ui.api_details = gr.JSON(label="details")
        ui.api_btn = gr.Button("ask")
    # a fresh Session per caller, updated in place: no State among /ask's outputs (Gradio's MCP server fails on one)
    ui.api_state = gr.State(Session(), delete_callback=session_delete_callback)


# Handlers return {key: value}; to_outputs maps them onto `outs` (the components in h.OUTPUTS order).
def wire_image_events(ui: SimpleNamespace, outs: list, examples: list[dict]) -> None:
    """Upload, example pick, CT window, slice and axis."""
    def on_upload(s, f, request: gr.Request):
        return to_outputs(h.load_file(s, f, request))

    def on_example(s, evt: gr.SelectData, request: gr.Request):
        return to_outputs(h.load_example(s, evt.index, examples, request))

    def on_window(s, w):
        return to_outputs(h.change_window(s, w))

    def on_slice(s, n, a):
        return to_outputs(h.change_slice(s, n, a))

    def on_axis(s, a):
        return to_outputs(h.change_slice(s, None, a))  # a new axis opens at its middle slice

    ui.upload.upload(on_upload, [ui.session, ui.upload], outs, **UI)
    ui.gallery.select(on_example, [ui.session], outs, **UI)
    ui.window.input(on_window, [ui.session, ui.window], outs, **UI)
    ui.slice_.release(on_slice, [ui.session, ui.slice_, ui.axis], outs, **UI)
    ui.axis.input(on_axis, [ui.session, ui.axis], outs, **UI)


def wire_region_events(ui: SimpleNamespace, outs: list) -> None:
    """Strokes, undo / remove / clear regions, insert a reference."""
    def on_stroke(s, v, m, size, request: gr.Request):
        return to_outputs(h.stroke(s, v, m, request, point_size=float(size) / 100))

    def on_undo(s):
        return to_outputs(h.undo_region(s))

    def on_remove(s, label):
        return to_outputs(h.remove_region(s, label))

    def on_clear_regions(s):
        return to_outputs(h.clear_regions(s))

    ui.editor.change(on_stroke, [ui.session, ui.editor, ui.mode, ui.point_size], outs, trigger_mode="always_last",
                     show_progress="hidden", **UI)
    ui.undo_btn.click(on_undo, [ui.session], outs, **UI)
    ui.remove_btn.click(on_remove, [ui.session, ui.region_pick], outs, **UI)
    ui.clear_regions_btn.click(on_clear_regions, [ui.session], outs, **UI)
    ui.insert_btn.click(h.insert_reference, [ui.question, ui.region_pick], ui.question, **UI)


def wire_chat_events(ui: SimpleNamespace, outs: list, model: h.ModelHandlers) -> None:
    """Ask (Enter or button) / Regenerate: start -> answer -> done; Stop; clear (button or the chat's trash
    icon), suggestions, overlay style. Only the answer holds the model (MODEL); no chat event outputs the
    editor, so drawing right after an answer always registers."""
    cycle = gr.State(asking.Cycle())  # this session's answer in progress (see demo.asking)
    ticket = gr.State(None)  # what the answer event of this Ask answers (None: not asked)
    chat_outs = [getattr(ui, COMPONENT_OF.get(k, k)) for k in CHAT_KEYS]
    buttons = [ui.ask_btn, ui.stop_btn, ui.regen_btn]

    def started(t: dict | None) -> tuple:
        if t is None:  # refused (busy or invalid): the box keeps the question
            return gr.skip(), None, *(gr.skip(),) * 3
        off = gr.update(interactive=False)
        stop = gr.update(visible=True, interactive=True, value="Stop")
        return gr.skip() if t.get("regenerate") else "", t, off, stop, off

    def on_start(s, c, q):
        return started(asking.start(c, s, q))

    def on_start_regenerate(s, c):
        return started(asking.start_regenerate(c, s))

    def on_answer(s, c, t, mt, temp, o, co, request: gr.Request):
        if t is None:
            yield to_outputs({}, CHAT_KEYS)
            return
        try:
            if t.get("regenerate"):
                run = model.regenerate(s, mt, temp, o, co, request=request, stop_event=c.stop)
            else:
                run = model.submit(s, t["question"], mt, temp, o, co, request=request, stop_event=c.stop)
            for d in run:
                yield to_outputs(d, CHAT_KEYS)
        finally:
            c.finish()

    def on_done(c, q):
        d = asking.done(c, q)
        if d is None:  # another answer of this session still runs
            return (gr.skip(),) * 4
        on = gr.update(interactive=True)
        return d.get("question", gr.skip()), on, gr.update(visible=False), on

    def on_stop(c):  # the answer ends at its next token; the button says so meanwhile
        return gr.update(interactive=False, value="Stopping…") if c.press_stop() else gr.skip()

    def on_clear_chat(s):
        return to_outputs(h.clear_chat(s), CHAT_KEYS)

    def on_restyle(s, o, c):
        return to_outputs(h.restyle(s, o, c), CHAT_KEYS)

    settings = [ui.max_tokens, ui.temperature, ui.opacity, ui.contours]
    for trigger, fn, inputs in ((ui.question.submit, on_start, [ui.session, cycle, ui.question]),
                                (ui.ask_btn.click, on_start, [ui.session, cycle, ui.question]),
                                (ui.regen_btn.click, on_start_regenerate, [ui.session, cycle])):
        trigger(fn, inputs, [ui.question, ticket, *buttons], **UI).then(
            on_answer, [ui.session, cycle, ticket, *settings], chat_outs, show_progress="minimal",
            show_progress_on=[ui.chatbot], **UI, **MODEL).then(
            on_done, [cycle, ui.question], [ui.question, *buttons], **UI)
    ui.stop_btn.click(on_stop, [cycle], ui.stop_btn, **UI)
    ui.clear_btn.click(on_clear_chat, [ui.session], chat_outs, **UI)
    ui.chatbot.clear(on_clear_chat, [ui.session], chat_outs, **UI)  # the chat's own trash icon clears for real
    ui.suggestions.click(lambda sample: sample[0], ui.suggestions, ui.question, **UI)
    ui.opacity.release(on_restyle, [ui.session, ui.opacity, ui.contours], chat_outs, **UI)
    ui.contours.input(on_restyle, [ui.session, ui.opacity, ui.contours], chat_outs, **UI)


def wire_api(ui: SimpleNamespace, model: h.ModelHandlers) -> None:
    """API: POST /ask (see API_DESCRIPTION)."""

    def ask(image: str, question: str, regions: list[dict] | None = None, region_masks: list[str] | None = None,
            history: list[list[str]] | None = None, max_new_tokens: int = h.DEFAULT_MAX_NEW_TOKENS,
            temperature: float = 0.0, state: Any = None, request: gr.Request = None
            ) -> Iterator[tuple[str, list[str], str | None, dict]]:
        """Ask MedPLIB (research software, not for clinical use) about a medical image; it answers in words and,
        for a segmentation request, with one mask per <SEG> in its answer.

        Args:
            image: the image file: PNG, JPEG, TIFF (8/16-bit), DICOM (.dcm) or NIfTI (.nii / .nii.gz; its middle axial slice).
            question: the question (at most 2,000 characters), e.g. "Please segment the liver."; regions are <region1>, <region2>...
            regions: JSON list of regions in image pixels, each {"point": [x, y]} or {"box": [x1, y1, x2, y2]}; at most 8 in all.
            region_masks: mask images (white = region), one region each, numbered after the JSON regions.
            history: earlier turns of the conversation about this image, as [question, answer] pairs.
            max_new_tokens: the longest answer in tokens, 1-1024.
            temperature: 0 answers greedily; up to 2 samples.
        Returns:
            the answer text, one mask PNG per <SEG> (0/255, image size), an overlay PNG (or none) and details (scores, areas in px and mm²).
        """
        try:
            for *out, _session in model.api_ask(image, question, regions, region_masks, history, max_new_tokens,
                                                temperature, state, request):
                yield tuple(out)
        except (h.InputError, RuntimeError) as err:
            raise gr.Error(str(err), print_exception=False) from None
        except Exception as err:  # noqa: BLE001 - any other failure: a sentence, nothing of its wording
            if is_user_error(err):
                raise gr.Error(f"Cannot ask that: {str(err).rstrip('.')}.", print_exception=False) from None
            log_failure(err)
            raise gr.Error("The request failed. Please check the inputs and try again.",
                           print_exception=False) from None

    ui.api_btn.click(ask, inputs=[ui.api_image, ui.api_question, ui.api_regions, ui.api_masks, ui.api_history,
                                      ui.api_max, ui.api_temp, ui.api_state],
                     outputs=[ui.api_answer, ui.api_files, ui.api_overlay, ui.api_details],
                     api_name="ask", api_description=API_DESCRIPTION, **MODEL)


class UploadFile(gr.File):
    """gr.File that hands over the uploaded path without leaving an empty temp file per upload in
    Gradio's cache (gr.File's own preprocess creates one and never deletes it)."""

    def get_block_name(self) -> str:
        return "file"

    def _process_single_file(self, f: Any) -> Any:
        from gradio.utils import NamedString

        return NamedString(f.path)


class RawNumber(gr.Number):
    """A hidden API number that hands the value sent to the function unchanged, so that a malformed
    one ("abc", Infinity) gets the API's own message instead of a Gradio error without one."""

    def get_block_name(self) -> str:
        return "number"

    def preprocess(self, payload: Any) -> Any:
        return payload


def default_host() -> str:
    """127.0.0.1, or 0.0.0.0 on a Hugging Face Space (env SPACE_ID)."""
    return "0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1"


def launch(demo: gr.Blocks, host: str | None = None, port: int | None = None,
           max_file_size: str | int = MAX_FILE_SIZE, **kwargs: Any):
    """Launch with the demo's privacy settings: no share link, no run history, no monitoring; uploads
    in private per-upload folders (demo.guard), deleted with their session, all on shutdown."""
    logs.install()
    files.start_sweeper()
    files.delete_on_shutdown()
    app_kwargs = dict(kwargs.pop("app_kwargs", None) or {})
    app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), guard.middleware(demo)]
    return demo.launch(
        server_name=host or default_host(), server_port=port, share=False, run_history=False,
        max_file_size=max_file_size, enable_monitoring=False, ssr_mode=False, footer_links=["api", "gradio"],
        theme=theme(), css=CSS, app_kwargs=app_kwargs, **kwargs)
