"""Training runs: config, trainer loop, buffers, checkpoints, evaluation, export, CLIs."""
