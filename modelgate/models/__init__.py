"""Model loaders: every supported format becomes one Predictor."""

from modelgate.models.interface import Predictor
from modelgate.models.load import load_predictor

__all__ = ["Predictor", "load_predictor"]
