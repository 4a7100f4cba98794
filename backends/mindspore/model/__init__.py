"""The model: ``nn.Cell`` trees whose attribute paths are vitzoo's canonical parameter names.

``vit`` assembles the network from ``layers`` (patch embedding, blocks, norms) and ``heads`` (pooling, classifiers).
"""
