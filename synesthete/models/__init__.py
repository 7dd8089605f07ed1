"""Neural networks (PyTorch): pretrained ones read from their packages' files, and their front ends."""
