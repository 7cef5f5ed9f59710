"""``mrf train``: train a learned inference model (MRFResnet, ResCNN-1D, KM) for a sequence."""

from __future__ import annotations

import argparse
import re

from mrfcore.cli._common import add_device_argument, add_sequence_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train MRFResnet, ResCNN-1D or the kernel machine for a sequence",
        description="Train a learned inference model on noisy copies of the sequence's "
        "dictionary atoms, each labelled by dictionary matching of the copy (the recipe "
        "of the MRFResnet paper: paper grid, rank 10, σ = 0.01, 50 copies per atom, Adam, "
        "MSE, 20 epochs, learning rate 0.01 with decay).  The model is written to the "
        "user's model folder (found automatically by the inference methods) or --out.",
    )
    add_sequence_arguments(parser)
    parser.add_argument("--model", required=True, choices=("mrfresnet", "rescnn", "km"),
                        help="which model to train")
    parser.add_argument("--epochs", type=int, default=20,
                        help="passes over the labelled copies (default 20; unused by km)")
    parser.add_argument("--copies", type=int, default=50,
                        help="noisy copies of every atom, each labelled once by dictionary "
                        "matching (default 50; ~40 µs per copy on a 2-core CPU for the paper "
                        "grid, so labelling 50 copies takes ~4 min there)")
    parser.add_argument("--noise", type=float, default=0.01,
                        help="σ of the complex noise on unit-norm fingerprints (default 0.01)")
    parser.add_argument("--grid", default="paper",
                        help="dictionary grid preset: paper, coarse, log (default paper)")
    parser.add_argument("--rank", type=int, default=10, help="subspace rank s (default 10)")
    parser.add_argument("--batch-size", type=int, default=256,
                        help="copies per optimiser step (default 256; with a larger batch "
                        "raise --lr, e.g. by the square root of the batch ratio)")
    parser.add_argument("--decoder-batch", type=int, default=0,
                        help="labels of each batch the MRFResnet decoder learns from (default "
                        "0: all, as published; its targets are noise-free atoms, so a few "
                        "hundred suffice and save most of the time of large batches)")
    parser.add_argument("--labels", choices=("dm", "truth"), default="dm",
                        help="training labels: dm (default, published: dictionary matching "
                        "of each noisy copy) or truth (the atom the copy was made from: no "
                        "matching, and the network learns to denoise rather than to "
                        "reproduce DM's errors)")
    parser.add_argument("--lr", type=float, default=0.01,
                        help="initial learning rate (default 0.01)")
    parser.add_argument("--final-lr", type=float, default=1e-4,
                        help="learning rate at the end of the exponential decay (default 1e-4)")
    parser.add_argument("--targets", choices=("auto", "linear", "log"), default="auto",
                        help="network outputs: T1/1000 ms and T2/100 ms (linear) or log T; "
                        "auto (default): log, which gave the better maps for MRFResnet "
                        "and KM (see mrfcore.inference.training.AUTO_TARGETS)")
    parser.add_argument("--test-samples", type=int, default=20000,
                        help="noisy copies for the test errors in the manifest (default 20000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--notes", default="", help="free text stored in the manifest")
    parser.add_argument("--out", metavar="FILE.pt",
                        help="model file (default: the user's model folder)")
    add_device_argument(parser)
    parser.set_defaults(handler=run)


def default_model_path(kind: str, sequence) -> str:
    from mrfcore.resources import data_dir

    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", sequence.name)[:40] or "sequence"
    return str(data_dir() / "models" / f"{kind}_{name}_{sequence.content_hash()}.pt")


def run(args: argparse.Namespace) -> int:
    from mrfcore.cli._common import TerminalProgress, sequence_from_args
    from mrfcore.device import select_device
    from mrfcore.dictionary import grid_preset, load_or_build_dictionary
    from mrfcore.inference.models import save_model
    from mrfcore.inference.training import TrainingSettings, train_model

    settings = TrainingSettings(
        epochs=args.epochs, copies=args.copies, noise=args.noise, batch_size=args.batch_size,
        decoder_batch=args.decoder_batch, labels=args.labels, learning_rate=args.lr,
        final_learning_rate=args.final_lr, targets=args.targets,
        test_samples=args.test_samples, seed=args.seed,
    )
    sequence = sequence_from_args(args)
    device = select_device(args.device)
    out = args.out or default_model_path(args.model, sequence)
    if not out.endswith(".pt"):
        raise ValueError(f"--out {out}: model files end in .pt")
    progress = TerminalProgress().progress()
    dictionary = load_or_build_dictionary(
        sequence, grid_preset(args.grid), args.rank, device=device,
        progress=progress.stage(0.0, 1.0, "dictionary"),
    )
    model = train_model(args.model, sequence, dictionary, settings, device, progress)
    if args.notes:
        model.manifest.notes = args.notes
    path = save_model(model, out)
    manifest = model.manifest
    print(f"model            {manifest.label} for {sequence.name} (hash "
          f"{manifest.sequence_hash}), {manifest.n_parameters:,} parameters")
    print(f"dictionary       {dictionary.n_atoms:,} atoms, rank {dictionary.rank}")
    print(f"training         {manifest.training['duration_s']} s on {device}")
    deviations = manifest.training.get("deviations_from_published") or []
    print(f"recipe           {'; '.join(deviations) or 'as published'}")
    for name, errors in (("test vs truth", manifest.test_errors["vs_truth"]),
                         ("test vs DM", manifest.test_errors["vs_dm_labels"]),
                         ("DM vs truth", manifest.test_errors["dm_vs_truth"])):
        print(f"{name:16s} T1 {errors['t1_mape_percent']:.2f} % ({errors['t1_mae_ms']:.1f} ms)"
              f", T2 {errors['t2_mape_percent']:.2f} % ({errors['t2_mae_ms']:.2f} ms) MAPE (MAE)")
    if "decoder_nrmse_percent" in manifest.test_errors:
        print(f"decoder NRMSE    {manifest.test_errors['decoder_nrmse_percent']:.2f} %")
    print(f"wrote            {path}")
    return 0
