"""`fakeimg`: build the tiny zoo, serve it over the Hub API, run the platform, summarize."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fakeimg_assets.lib.arg_checks import (
    DEVICE_SYNTAX,
    OptionError,
    arg_type,
    check_backbone,
    check_device_syntax,
    check_folder,
    check_int,
    check_output_file,
    check_post,
    check_repo_id,
    check_safetensors_file,
)

POSITIVE = arg_type(check_int, 1)  # argparse `type=`s: "argument --x: must be ...", exit 2
NON_NEGATIVE = arg_type(check_int, 0)


def _world_build(args: argparse.Namespace) -> int:
    from fakeimg_assets.testbed.world.build import world_build_command

    return world_build_command(args)


def _recipes(args: argparse.Namespace) -> int:
    """Every sampling recipe (defaults, supported classes) and every refused class's reason."""
    from fakeimg_assets.sampling import recipes as R

    variant_of = R.variant_bases()
    print(f"{'recipe':22s} {'pipeline classes':44s} steps guidance   size  status")
    for name in R.list_recipes():
        r = R.get_recipe(name)
        classes = ", ".join(r.pipeline_classes) or f"(repos of {variant_of.get(name, '?')})"
        status = f"supported, distilled variant of {variant_of[name]}" if name in variant_of \
            else "supported"
        size = str(r.default_size or "config")  # None: the pipeline's, from its configs
        print(f"{name:22s} {classes:44s} {r.default_steps:5d} {r.default_guidance:8.1f} "
              f"{size:>6s}  {status}")
    for cls, reason in sorted(R.UNSUPPORTED.items()):
        print(f"{'-':22s} {cls:44s} {'-':>5s} {'-':>8s} {'-':>6s}  refused: {reason}")
    return 0


def _science(args: argparse.Namespace) -> int:
    from fakeimg_assets.testbed.world.science import science_command

    return science_command(args)


def _zoo_build(args: argparse.Namespace) -> int:
    import time

    from fakeimg_assets.testbed.zoo.build import build_zoo

    t0 = time.perf_counter()
    models = build_zoo(Path(args.dir), only=args.only or None)
    if args.hostile:  # repos that must be refused, one per attack (testbed/zoo/hostile.py)
        from fakeimg_assets.testbed.zoo.hostile import build_hostile

        models += [h.model for h in build_hostile(Path(args.dir))]
    if args.extra_size:  # healthy sd1 models again at a second native size
        from fakeimg_assets.testbed.zoo.build import write_repo
        from fakeimg_assets.testbed.zoo.models import sized_variant

        for m in [m for m in models if m.architecture == "sd1" and m.expect == "ok"]:
            models.append(sized_variant(m, args.extra_size))
            write_repo(Path(args.dir), models[-1])
    if not args.no_photos:  # the demo photos as a Hub dataset repo, datasets/fakeimg/demo-photos
        from fakeimg_assets.testbed.demo_photos import write_demo_dataset

        write_demo_dataset(Path(args.dir))
    if args.collection:  # generators outside the Hub, as a folder `collection add` reads
        from fakeimg_assets.testbed.demo_collection import write_demo_collection

        print(f"demo collection: {write_demo_collection(Path(args.collection))}")
    by_expect: dict[str, int] = {}
    for m in models:
        by_expect[m.expect] = by_expect.get(m.expect, 0) + 1
    print(
        f"built {len(models)} repos in {args.dir} ({time.perf_counter() - t0:.1f} s): "
        + ", ".join(f"{n} {k}" for k, n in sorted(by_expect.items()))
    )
    return 0


def _hub_serve(args: argparse.Namespace) -> int:
    from fakeimg_assets.testbed.local_hub.server import serve_from_args

    return serve_from_args(args)


def _run(args: argparse.Namespace) -> int:
    from fakeimg_assets.lib.paths import fakeimg_home
    from fakeimg_assets.platform_run import RunOptions, run_platform
    from fakeimg_assets.summary import summarize

    opts = RunOptions(
        limit=args.limit,
        crawl_limit=args.crawl_limit,
        images_per_model=args.images_per_model,
        steps=args.steps,
        crops_per_photo=args.crops_per_photo,
        real_folder=args.real_folder or "",
        real_dataset=args.real_dataset or "",
        post=args.post or "",
        backbone=args.backbone,
        backbone_weights=args.backbone_weights or "",
        epochs=args.epochs,
        device=args.device,
        batch_size=args.batch_size,
        scaling=not args.no_scaling,
        studies=not args.no_studies,
        family_max_runs=args.family_max_runs,
        detector=not args.no_detector,
        sample=not args.partitions_only,
        log_level="INFO" if args.verbose else "CRITICAL",
        force=args.force,
    )
    home = fakeimg_home()
    try:
        report = run_platform(opts, home=home, progress=True)
    except OptionError as exc:  # refused before any work, as argparse refuses a bad value
        print(f"fakeimg run: error: argument {exc.argument}: {exc.problem}", file=sys.stderr)
        return 2
    print()
    if (home / "warehouse.duckdb").exists():
        print(summarize(home))
    print()
    print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items()))
    for step in report.steps_failed:
        print(f"FAILED {step}", file=sys.stderr)
    if report.to_backfill:
        print(f"{len(report.to_backfill)} partitions to backfill")
    if not report.sampled and not report.ok:
        print("FAILED: no model was sampled", file=sys.stderr)
    if args.strict and report.failed:
        print(f"FAILED (--strict): {len(report.failed)} models failed", file=sys.stderr)
        return 1
    return 0 if report.ok else 1


def _collection_add(args: argparse.Namespace) -> int:
    from fakeimg_assets.collections.add import add_collection

    report = add_collection(args.source, name=args.name or None, role=args.role,
                            train=args.train)  # fmt: skip
    for what, why in report.failed.items():
        print(f"FAILED {what}: {why}", file=sys.stderr)
    print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items()))
    return 0 if report.ok else 1


def _summary(args: argparse.Namespace) -> int:
    from fakeimg_assets.lib.paths import fakeimg_home
    from fakeimg_assets.summary import summarize

    print(summarize(fakeimg_home()))
    return 0


def _compact(args: argparse.Namespace) -> int:
    from fakeimg_assets.lib.paths import fakeimg_home
    from fakeimg_assets.warehouse.schemas import RELATIONS, UNION_VIEWS
    from fakeimg_assets.warehouse.store import Warehouse

    home = fakeimg_home()
    if not (home / "parquet").is_dir():
        raise FileNotFoundError(f"no fakeimg data at {home}: set FAKEIMG_HOME or run `fakeimg run`")
    tables: list[str] = []
    for name in args.table or []:
        if name in UNION_VIEWS:
            tables += list(UNION_VIEWS[name])
        elif name in RELATIONS:
            tables.append(name)
        else:
            print(f"fakeimg compact: error: argument --table: unknown relation {name!r}; "
                  f"known: {', '.join(sorted([*RELATIONS, *UNION_VIEWS]))}", file=sys.stderr)
            return 2
    results, views_refreshed = Warehouse(home).compact(tables or None)
    for r in results:
        if r.folded or args.table:
            print(r.summary())
        for line in r.warnings():
            print(line)
    if not views_refreshed:
        print(f"note: views in {home / 'warehouse.duckdb'} not refreshed (held by another "
              "process); the next fakeimg command refreshes them")
    folded = sum(r.folded for r in results)
    print(f"compacted {sum(1 for r in results if r.folded)} tables, {folded} files folded")
    return 0


def _verify(args: argparse.Namespace) -> int:
    import warnings

    from fakeimg_assets.integrity.parquet_health import DamagedParquetWarning
    from fakeimg_assets.integrity.verify import verify
    from fakeimg_assets.lib.paths import fakeimg_home
    from fakeimg_assets.warehouse.store import Warehouse

    home = fakeimg_home()
    if not (home / "parquet").exists() and not (home / "images").exists():
        raise FileNotFoundError(f"no fakeimg data at {home}: set FAKEIMG_HOME or run `fakeimg run`")
    with warnings.catch_warnings():  # verify names each damaged file itself
        warnings.simplefilter("ignore", DamagedParquetWarning)
        if not Warehouse(home).ensure_views():
            print(f"note: views in {home / 'warehouse.duckdb'} not refreshed (the file is "
                  "held by another process, or see the warning above)")
        report = verify(home, repair=args.repair, hashes=not args.no_hashes)
        if report.quarantined:  # the views listed the files around it: now globs again
            Warehouse(home).ensure_views()
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _regenerate(args: argparse.Namespace) -> int:
    from fakeimg_assets.platform_run import quiet_libraries
    from fakeimg_assets.sampling.regenerate import regenerate_image

    quiet_libraries()
    result = regenerate_image(args.image_id, out=Path(args.out) if args.out else None)
    print(
        f"{args.image_id}: recorded sha256 {result.recorded_sha256[:16]}…, "
        f"regenerated {result.regenerated_sha256[:16]}… -> "
        + ("byte-identical" if result.identical else "DIFFERENT")
    )
    return 0 if result.identical else 1


def _detect(args: argparse.Namespace) -> int:
    from fakeimg_assets.detection.detect import detect_command

    return detect_command(args)


def _evaluate(args: argparse.Namespace) -> int:
    import polars as pl

    from fakeimg_assets.outside_run import OutsideOptions, evaluate_outside, headline

    perturbations = [] if args.no_perturbations else None
    opts = OutsideOptions(detector=args.detector, name=args.name or "", n_boot=args.n_boot,
                          batch_size=args.batch_size, timeout_s=args.timeout, device=args.device,
                          log_level="INFO" if args.verbose else "CRITICAL",
                          **({"perturbations": perturbations} if perturbations is not None else {}))
    rows = evaluate_outside(opts)
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True,
                   fmt_str_lengths=60, tbl_width_chars=200):
        print(headline(rows))
    print(f"{rows.height} rows in eval_results (detector = {rows['detector'][0]!r})")
    return 0


def _export(args: argparse.Namespace) -> int:
    from fakeimg_assets.export.cli import export_command

    return export_command(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fakeimg",
        description="Sample Hugging Face diffusers models into a DuckDB warehouse and train "
        "fake-image detectors that generalize to unseen generators.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    zoo = sub.add_parser("zoo", help="the tiny random-weight model zoo").add_subparsers(
        dest="zoo_command", required=True
    )
    zb = zoo.add_parser("build", help="write the zoo in Hub repo layout into DIR")
    zb.add_argument("dir")
    zb.add_argument("--only", nargs="*", help="model ids to build (default: all)")
    zb.add_argument("--hostile", action="store_true", help="also build the hostile repos")
    zb.add_argument("--extra-size", type=arg_type(check_int, 16, 512, multiple_of=8, or_zero=True),
                    default=0,
                    help="also build the healthy sd1 models at this native size (e.g. 128)")
    zb.add_argument("--no-photos", action="store_true",
                    help="skip the demo photos dataset repo (datasets/fakeimg/demo-photos)")
    zb.add_argument("--collection", default="", metavar="CDIR",
                    help="also write the demo image collection (two generators the platform "
                    "cannot run, and real crops) into CDIR, for `fakeimg collection add`")
    zb.set_defaults(func=_zoo_build)

    world = sub.add_parser("world", help="a miniature Hub of trained tiny generators")
    wb = world.add_subparsers(dest="world_command", required=True).add_parser(
        "build", help="train tiny diffusers generators on photo crops; save them into DIR")
    wb.add_argument("dir")
    wb.add_argument("--generators", type=POSITIVE, default=25, help="bases and fine-tunes in all")
    wb.add_argument("--families", nargs="*", default=None,
                    help="generator families (default: all registered)")
    wb.add_argument("--force", action="store_true", help="rebuild even if the cache is current")
    wb.add_argument("--steps", type=POSITIVE, default=None, help="denoiser steps per base model")
    wb.add_argument("--vae-steps", type=POSITIVE, default=None,
                    help="autoencoder steps per family")
    wb.add_argument("--seed", type=NON_NEGATIVE, default=0, help="same seed, same world")
    wb.set_defaults(func=_world_build)

    sc = sub.add_parser("science", help="the pre-registered science run (docs/science/"
                        "protocol.toml): worlds, platform runs, studies, verdict")
    sc.add_argument("--seeds", type=POSITIVE, default=None,
                    help="how many of the protocol's replication world seeds (default 1)")
    sc.add_argument("--world-seed", type=NON_NEGATIVE, default=None,
                    help="one development seed instead (reported as development)")
    sc.add_argument("--register", action="store_true",
                    help="register the protocol's version and content, then exit")
    sc.add_argument("--strict", action="store_true", help="exit 1 if the finding does not hold")
    sc.set_defaults(func=_science)

    hub = sub.add_parser("hub", help="local Hub-protocol server").add_subparsers(
        dest="hub_command", required=True
    )
    hs = hub.add_parser("serve", help="serve DIR over the Hub HTTP API on loopback")
    from fakeimg_assets.testbed.local_hub.options import add_serve_arguments

    add_serve_arguments(hs)  # DIR, --port/--host, --token, --fault ..., --request-log
    hs.set_defaults(func=_hub_serve)

    r = sub.add_parser(
        "run",
        help="crawl $HF_ENDPOINT (default: the real Hub), add partitions, materialize what is missing or stale",
    )
    # every value checked before any work (docs/cli.md); the device against this machine,
    # and a pretrained backbone's weights on the endpoint, by run_platform's own checks
    r.add_argument("--limit", type=POSITIVE, default=None,
                   help="at most N >= 1 models (newest first; default: all)")
    r.add_argument("--crawl-limit", type=NON_NEGATIVE, default=0,
                   help="crawl at most N models (0: all)")
    r.add_argument("--images-per-model", type=POSITIVE, default=16, help="N >= 1 (default 16)")
    r.add_argument("--steps", type=POSITIVE, default=None,
                   help="denoising steps >= 1 (default: the recipe's)")
    r.add_argument("--crops-per-photo", type=NON_NEGATIVE, default=0,
                   help="real crops per photo and fake size (0: as many reals as fakes)")
    r.add_argument("--real-folder", default=None, type=arg_type(check_folder),
                   help="folder of real photos (default: demo)")
    r.add_argument("--real-dataset", default=None, type=arg_type(check_repo_id),
                   help="Hub dataset repo of real photos + captions, e.g. fakeimg/demo-photos")
    r.add_argument("--post", default=None, type=arg_type(check_post),
                   help="post-processing for both classes, e.g. 'jpeg:70-95' or 'resize:0.5'")
    r.add_argument("--backbone", default="tiny-resnet", type=arg_type(check_backbone),
                   help="detector backbone from the registry (a wrong name lists them)")
    r.add_argument("--backbone-weights", default=None, metavar="PATH",
                   type=arg_type(check_safetensors_file),
                   help="a pretrained backbone's weights as a local .safetensors file "
                   "(default: fetched from the Hub endpoint, checked before the crawl)")
    r.add_argument("--epochs", type=POSITIVE, default=None, help="N >= 1 (default: the recipe's)")
    r.add_argument("--device", default="auto", type=arg_type(check_device_syntax),
                   help=f"{DEVICE_SYNTAX}; checked against this machine")
    r.add_argument("--batch-size", type=POSITIVE, default=4, help="sampling batch size >= 1")
    r.add_argument("--no-scaling", action="store_true", help="skip the scaling study")
    r.add_argument("--no-studies", action="store_true",
                   help="skip the diversity study and the cross-dataset comparison")
    r.add_argument("--family-max-runs", type=NON_NEGATIVE, default=8,
                   help="held-out-family evaluation runs, largest architectures first (0: all)")
    r.add_argument("--no-detector", action="store_true", help="only crawl and sample")
    r.add_argument("--partitions-only", action="store_true",
                   help="only crawl, fetch the real data and add partitions: a daemon backfill "
                   "samples them (docs/cluster.md)")
    r.add_argument("--strict", action="store_true", help="exit 1 if any model failed")
    r.add_argument("--verbose", action="store_true", help="print Dagster's step events")
    r.add_argument("--force", action="store_true",
                   help="re-sample every selected model and re-run everything downstream "
                   "(default: only partitions that are missing, failed or stale)")
    r.set_defaults(func=_run)

    c = sub.add_parser("chaos", help="rehearse a flaky Hub with hostile repos; exit 1 on a problem")
    from fakeimg_assets.testbed.chaos import add_chaos_arguments, run_chaos_command

    add_chaos_arguments(c)
    c.set_defaults(func=run_chaos_command)

    rc = sub.add_parser("recipes", help="list sampling recipes and refused pipeline classes")
    rc.set_defaults(func=_recipes)

    col = sub.add_parser("collection", help="images of generators the platform cannot run")
    ca = col.add_subparsers(dest="collection_command", required=True).add_parser(
        "add", help="stage an image collection (one generator per sub-folder, Community "
        "Forensics Parquet, or hf://datasets/ORG/NAME) as hub_models partitions")
    ca.add_argument("source", help="a folder, .parquet file(s) or hf://datasets/ORG/NAME")
    ca.add_argument("--name", default="", help="collection name (default: from SOURCE)")
    ca.add_argument("--role", default="train", choices=("train", "eval", "both"),
                    help="train: joins the splits; eval: an outside evaluation set only; "
                    "both (default: train)")
    ca.add_argument("--train", action="store_true",
                    help="then run the detector chain (audit, split, detector, evaluation)")
    ca.set_defaults(func=_collection_add)

    d = sub.add_parser("detect", help="score image files and folders with a trained detector "
                       "(CSV or JSON: path, score = P(fake), label, error)")
    d.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (walked for "
                   ".png .jpg .jpeg .webp .bmp .gif .tif .tiff)")
    d.add_argument("--detector", default=None, metavar="DIR",
                   help="a timm folder (detector_runs.timm_dir) or a checkpoint folder "
                   "(default: the newest main run in $FAKEIMG_HOME)")
    d.add_argument("--format", default="csv", choices=("csv", "json"))
    d.add_argument("--batch-size", type=int, default=32, help="images per forward pass (> 0)")
    d.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    d.add_argument("--output", default=None, metavar="FILE", help="write here, not stdout")
    d.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    d.set_defaults(func=_detect)

    e = sub.add_parser("evaluate", help="score another detector on the held-out generators "
                       "(and outside sets) into eval_results, as the platform's own")
    e.add_argument("--detector", required=True, metavar="SPEC",
                   help="a timm folder (or local-dir:PATH), hf-hub:ORG/NAME, or a command "
                   "(cmd:PROGRAM ARGS, or any text with a space) reading image paths on stdin "
                   "and printing one score per line")
    e.add_argument("--name", default="", help="eval_results.detector (default: from SPEC)")
    e.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (> 0)")
    e.add_argument("--batch-size", type=int, default=32, help="images per forward pass (> 0)")
    e.add_argument("--timeout", type=float, default=600.0,
                   help="seconds a command may take per image set (> 0)")
    e.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    e.add_argument("--no-perturbations", action="store_true", help="score the images as is only")
    e.add_argument("--verbose", action="store_true", help="print Dagster's step events")
    e.set_defaults(func=_evaluate)


    ex = sub.add_parser("export", help="the latest split as a dataset: Parquet shards with the "
                        "image bytes, a dataset card and SHA256SUMS in DIR (docs/export.md)")
    from fakeimg_assets.export.cli import add_export_arguments

    add_export_arguments(ex)  # DIR, --push REPO, --include-restricted, shard bounds
    ex.set_defaults(func=_export)

    s = sub.add_parser("summary", help="print the warehouse summary")
    s.set_defaults(func=_summary)

    v = sub.add_parser(
        "verify", help="check every Parquet file reads, every image row has its file "
        "(sha256) and every file its row"
    )
    v.add_argument("--repair", action="store_true",
                   help="remove leftovers and orphan files (never a file a row points at); "
                   "move damaged Parquet files to $FAKEIMG_HOME/quarantine and mark their "
                   "partitions for re-run")
    v.add_argument("--no-hashes", action="store_true", help="check existence only, not sha256")
    v.set_defaults(func=_verify)

    cp = sub.add_parser(
        "compact", help="fold each table's per-partition Parquet files into one sorted file "
        "(fast queries at millions of rows; safe beside running partitions)")
    cp.add_argument("--table", action="append", metavar="RELATION",
                    help="only this relation (repeatable; a union view such as `images` "
                    "means its storage tables; default: every table)")
    cp.set_defaults(func=_compact)

    g = sub.add_parser("regenerate", help="re-sample one image from its row; check it is byte-exact")
    g.add_argument("image_id")
    g.add_argument("--out", default=None, type=arg_type(check_output_file),
                   help="write the regenerated PNG here (its folder must exist)")
    g.set_defaults(func=_regenerate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"fakeimg: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
