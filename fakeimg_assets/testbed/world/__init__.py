"""A miniature Hub of *trained* tiny diffusers generators (issue 7), built on a CPU.

The demo zoo's random-weight generators draw coloured noise, so any detector wins and the
numbers prove plumbing only. Here each generator is actually trained on photo crops, then
saved in the zoo's Hub repo layout so it flows through `fakeimg hub serve` + `fakeimg run`.
Modules: `photos` (generator photo pool), `spec` (world/generator specs, family registry),
`sd1` (the SD1-style family), `train` (shared loops), `checks`, `card`, `build`.
"""
