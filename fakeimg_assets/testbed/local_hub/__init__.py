"""A local server speaking the Hugging Face Hub's HTTP API over a folder of repos.

The test fixture and the offline demo (`fakeimg hub serve ROOT`): the unmodified
`huggingface_hub` client and diffusers' `from_pretrained` work against it. Not to be
confused with the platform's client of the real Hub (the `hub` resource).

Modules, bottom to top: `protocol` (errors, dates, paths as the Hub's API has them),
`files` (hashes, LFS pointers), `repo` (one repo's metadata and JSON shapes),
`repo_folders` (finding repos under ROOT), `guards`, `deadline`, `faults`, `reqlog`,
`httpd` (the listening socket, connection slots), `http_base` (request plumbing),
`routes` (the API's answers), `options` (command-line options) and `server` (`HubServer`,
`serve_forever`, `main`). `publishing` schedules repos to appear over time.
"""
