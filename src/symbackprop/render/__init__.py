"""Renderers of a derivation: text and JSON, LaTeX and Markdown, MathML, SVG and the HTML report."""

from . import latex, report, text  # noqa: F401 - each registers its formats
