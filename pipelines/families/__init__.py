"""Task families: the machinery a kind of task shares, so that a task file only declares what it is.

- `tagging`: token tagging (encode windows, decode, join windows, score with seqeval, entities with their span
  probabilities, raw text -> words -> predictions); NER, the joint task's slots, toxic spans.
- `classify`: sentence classification records, scores and ranked predictions; intent, topics.
- `post_spans`: one label per post plus character spans in it (toxicity).
- `dialogue_state`: per-turn intent, slot tags and update gates tracked into a dialogue state.
"""
