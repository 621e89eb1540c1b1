"""What a batch is made of: keyed seeding and epoch order, batch image transforms, the tokenizer."""
