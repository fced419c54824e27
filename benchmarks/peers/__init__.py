"""Peer implementations of jaxdl's models in other frameworks, for side-by-side benchmarks.

``torch_models``: the same architectures in PyTorch (torchvision where its model is
the same network, plain ``torch.nn`` otherwise) and a timed PyTorch training step.
Importing this package imports no framework.
"""
