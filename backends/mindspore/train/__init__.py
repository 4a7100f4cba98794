"""Training and evaluation on MindSpore: the trainer, the image pipeline, top-k evaluation, msrun data parallel, resumable state.

``vitzoo.workflows`` calls in here; nothing here imports the workflows back.
"""
