"""xent: softmax, cross-entropy, KL, entropy, perplexity and gradients from the command line."""

__version__ = "0.1.0"
