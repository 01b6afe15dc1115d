from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from embeddings.encoders.types import ModelLoadError
from embeddings.management.model_argument import resolve_model
from training.datasets import DatasetError
from training.evaluation import IN_BATCH_SIZE
from training.model_evaluation import SPLITS, catalog_pairs, config_image_side, default_report_dir, evaluate_model


class Command(BaseCommand):
    help = (
        "Measure a registered model's retrieval on a split of the catalog: recall@1/5/10 and median rank in "
        "both directions over the whole split, and the in-batch recall of the original project. Stores the "
        "report (shown on the model's admin page) and writes report.json, recall.png and loss.png."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, help="registered model name")
        parser.add_argument("--split", choices=SPLITS, default="test")
        parser.add_argument("--caption-template", help="str.format over Artwork fields (default: the full caption)")
        parser.add_argument(
            "--baseline",
            default="auto",
            help="auto (the weights it was fine-tuned from, else the active model), none, or a model name",
        )
        parser.add_argument("--in-batch-size", type=int, default=IN_BATCH_SIZE)
        parser.add_argument("--val-fraction", type=float, default=0.1)
        parser.add_argument("--test-fraction", type=float, default=0.2)
        parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
        parser.add_argument("--out", type=Path, help="folder for the files (default: TRAINING_DIR/reports/...)")

    def handle(self, *args: Any, **options: Any) -> None:
        model = resolve_model(options["model"])
        if options["in_batch_size"] < 2:
            raise CommandError("--in-batch-size must be at least 2")
        out_dir: Path = options["out"] or default_report_dir(model, options["split"])
        try:
            pairs = catalog_pairs(
                options["split"],
                caption_template=options["caption_template"],
                val_fraction=options["val_fraction"],
                test_fraction=options["test_fraction"],
                image_side=2 * config_image_side(model),  # as fine-tuning keeps its images
            )
            report = evaluate_model(
                model,
                pairs,
                baseline=options["baseline"],
                device=options["device"],
                in_batch_size=options["in_batch_size"],
                out_dir=out_dir,
                progress=self.stdout.write,
            )
        except (DatasetError, ModelLoadError) as exc:
            raise CommandError(str(exc)) from None
        baseline = report.baseline_metrics or {}
        header = f"{'metric':<24}{'baseline':>10}{'model':>10}" if baseline else f"{'metric':<24}{'model':>10}"
        self.stdout.write(
            f"{model.name} on {report.pairs} {report.split} pairs; baseline: {report.baseline_name or 'none'}"
        )
        self.stdout.write(header)
        for name, value in report.metrics.items():
            before = f"{baseline[name]:>10.3f}" if name in baseline else ""
            self.stdout.write(f"{name:<24}{before}{value:>10.3f}")
        for name, value in report.in_batch.items():
            if name != "batch_size":
                self.stdout.write(f"{name:<24}{value:>10.3f}")
        self.stdout.write(f"report {out_dir / 'report.json'}, plots in {out_dir}")
