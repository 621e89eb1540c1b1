"""How a model sees the pairs: the DataModule, seeded epoch order, batch transforms and the tokenizer."""
