"""Renderers of a derivation: text and JSON, LaTeX and Markdown, MathML and the HTML report."""
