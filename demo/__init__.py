"""Model-free helpers of the Gradio demo: upload decoding (``medical_io``), ImageEditor strokes
to region masks (``strokes``), overlays / legends / answer colouring (``overlay``) and mask
export (``export``). User-fixable problems raise :class:`demo.errors.InputError`."""
