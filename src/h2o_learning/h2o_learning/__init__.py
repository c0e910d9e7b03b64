"""h2o_learning: H2O and its baselines (SAC, CQL, DARC) in PyTorch, with ONNX export."""
