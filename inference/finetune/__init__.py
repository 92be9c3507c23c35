"""Fine-tuning SAM's mask decoder on stored embeddings (the data engine's loop).

Only the mask decoder is trained; the image encoder stays frozen, so the stored
embeddings are the training inputs and stay valid for every tuned version.

* `decoder_state`: a tuned decoder as safetensors bytes, and a `SegmentationModel`
  that shares the base model's encoder and holds its own decoder.
* `sampling`: training prompts as the click protocol gives them (a first click
  farthest from the boundary, corrective clicks) plus jittered boxes.
* `losses`: SAM's focal + dice (20:1) on the masks and MSE on the IoU head.
* `train`: the deterministic, time-bounded training loop.
"""
