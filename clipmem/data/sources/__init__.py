"""Where pairs come from: the source protocols and zero-shot set type (``base``), the synthetic generator, CSV,
Hugging Face and webdataset readers (in memory or streamed), the prepared sets, and the decoding and bad-row
bookkeeping they share."""
