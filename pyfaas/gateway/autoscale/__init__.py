"""The gateway's autoscaler: OpenFaaS CE's rps rule, OpenFaaS Pro's modes, scale to zero.

``loop.Autoscaler`` runs the tick; ``loads`` reads each mode's load,
``rule`` holds Pro's decision and its scale-down window, ``ce`` the CE
rule, ``idler`` the scale-to-zero decision. The labels are read by
``pyfaas.scale_labels``, as the providers read them.
"""

from pyfaas.gateway.autoscale.loop import Autoscaler

__all__ = ["Autoscaler"]
