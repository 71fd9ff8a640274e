"""tunetui: plan, build and run LLM fine-tuning jobs from a terminal."""

__version__ = "0.1.0"
