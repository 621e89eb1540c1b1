"""Who is in which subset: the split manifest (S_S, S_C, S_I, S_E), planted mis-captions, atypical samples,
near-duplicate groups and the fingerprints that tie a manifest to its data."""
