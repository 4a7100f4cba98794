"""Deployment: MindIR/ONNX export, the portable (primitive-operator) copy it exports, and batch image embeddings.
"""
