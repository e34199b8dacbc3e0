"""The tiny random-weight model zoo: Hub-style repos of many diffusers architectures.

Importing the package imports every family module (`arch_*.py`), each of which registers
its pipeline builders with `registry`, as timm's model modules do: the registry never
imports a family. The catalogue is data in `models`; `build` writes repos (`fakeimg zoo
build DIR`); `hostile` adds repos that must be refused; `verify` loads and samples them.
"""

from fakeimg_assets.testbed.zoo import (  # noqa: F401 - imported to register their builders
    arch_cascade,
    arch_transformer,
    arch_transformer_llm,
    arch_unet,
)
