"""Checkpoints: finding them (local folder or hub id), telling our layout from the released one, converting
the released keys and config, loading the tokenizer, and replaying the parity fixture."""
