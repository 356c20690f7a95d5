"""Model-free helpers of the Gradio demo: ImageEditor strokes to region masks (``strokes``),
overlays / legends / answer colouring (``overlay``); file reading and mask export live in
``medplib.io``. User-fixable problems raise :class:`demo.errors.InputError`."""
