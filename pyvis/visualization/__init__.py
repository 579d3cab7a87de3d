"""Visualisations mirroring ``vis.visualization``: saliency, Grad-CAM, activation maximisation,
plus ``get_num_filters`` and ``overlay``."""

from .activation_maximization import visualize_activation, visualize_activation_with_losses
from .overlay import get_num_filters, overlay
from .saliency import (visualize_cam, visualize_cam_with_losses, visualize_saliency,
                       visualize_saliency_with_losses)

__all__ = ['visualize_activation_with_losses', 'visualize_activation',
           'visualize_saliency_with_losses', 'visualize_saliency', 'visualize_cam_with_losses',
           'visualize_cam', 'get_num_filters', 'overlay']
