"""A miniature Hub of *trained* tiny diffusers generators (issue 7), built on a CPU.

The demo zoo's random-weight generators draw coloured noise, so any detector wins and the
numbers prove plumbing only. Here each generator is actually trained on photo crops, then
saved in the zoo's Hub repo layout so it flows through `fakeimg hub serve` + `fakeimg run`.

Modules, bottom to top: `photos` (the photo pools), `spec` (world and generator specs, the
family registry), `train` and `flow` (training loops), the families `sd1` (also SD2),
`sdxl`, `sd3`, `pixart` (each builds, trains and assembles its pipelines), `checks`
(sampling and divergence checks), `card`, `dataset` (the detector's photos as a dataset
repo), `cache` (reusing a complete build), `build` (`fakeimg world build`), then the
science run: `science` (`fakeimg science`) and `findings` (its verdict).
"""
