from .layer_decay import (HATNetLayerDecayOptimWrapperConstructor,
                          hatnet_layer_depth)

__all__ = ['HATNetLayerDecayOptimWrapperConstructor', 'hatnet_layer_depth']
