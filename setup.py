from setuptools import find_packages, setup

version = {}
with open('mmhatnet/version.py') as f:
    exec(f.read(), version)

setup(
    name='mmhatnet',
    version=version['__version__'],
    description='HAT-Net (Vision Transformers with Hierarchical Attention) '
    'as an OpenMMLab backbone plugin',
    long_description=open('README.md').read() if __import__('os').path.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmhatnet', 'mmhatnet.*']),
    # docs/get_started.md says how these were determined: torch 2.14 is the
    # lowest torch the backbone's tests pass on (older ones segfault in a
    # channels-last GroupNorm backward) and needs Python 3.10
    python_requires='>=3.10',
    install_requires=['torch>=2.14', 'mmengine>=0.10.0', 'mmcv>=2.1.0'],
    extras_require={
        'det': ['mmdet>=3.0.0'],
        'seg': ['mmsegmentation>=1.0.0', 'ftfy', 'regex'],
        'cls': ['mmpretrain>=1.0.0'],
        'tests': ['pytest'],
    },
    license='MIT',
    zip_safe=False,
)
