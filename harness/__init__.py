"""Prompt evaluation harness for code-review agent prompts."""

__version__ = "0.1.0"
