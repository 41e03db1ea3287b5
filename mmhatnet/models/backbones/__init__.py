from .hatnet import HATNet

__all__ = ['HATNet']
