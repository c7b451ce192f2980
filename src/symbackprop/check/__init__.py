"""Proving gradients and checking a user's own backprop: finite differences (``gradcheck``), a whole network's
backprop called as written (``backprop``, ``calling``, ``layouts``, ``penalty``), one layer's backward function
(``layers``), the mistakes named (``diagnose``) and the report (``report``); ``user_code`` runs the user's code."""

from .backprop import check_backprop, check_file
from .gradcheck import gradcheck
from .layers import check_layer
from .report import ParamResult, Report
from .user_code import load_user_function

__all__ = ["ParamResult", "Report", "check_backprop", "check_file", "check_layer", "gradcheck", "load_user_function"]
