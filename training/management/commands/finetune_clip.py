from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from embeddings.encoders.types import ModelLoadError
from training.datasets import DatasetError
from training.finetune import CHECKPOINT_NAME, REPORT_NAME, finetune
from training.options import TrainingError, TrainOptions


class Command(BaseCommand):
    help = (
        "Fine-tune an open_clip model contrastively on image-caption pairs (a CSV or the catalog); "
        "writes checkpoint.pt, report.json (recall@1/5/10 and median rank before and after) and the plots "
        "loss.png and recall.png into --out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--csv", type=Path, help="CSV with columns filepath,title (paths relative to the CSV)")
        source.add_argument("--from-catalog", action="store_true", help="visible artworks with an image")
        parser.add_argument("--model", required=True, help="open_clip architecture, e.g. museum-tiny or ViT-B-32")
        parser.add_argument("--pretrained", required=True, help="pretrained tag, checkpoint path, or 'none' (random)")
        parser.add_argument("--epochs", type=int, required=True)
        parser.add_argument("--batch-size", type=int, required=True)
        parser.add_argument("--out", type=Path, required=True, help="folder for checkpoint.pt and report.json")
        parser.add_argument("--register", metavar="NAME", help="add the checkpoint as an inactive EmbeddingModel")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--lr",
            type=float,
            default=None,
            help="AdamW learning rate (default 1e-4 from pretrained weights, 5e-4 from none)",
        )
        parser.add_argument("--weight-decay", type=float, default=0.1)
        parser.add_argument("--warmup-fraction", type=float, default=0.1, help="share of steps spent warming up")
        parser.add_argument(
            "--accumulation-steps",
            type=int,
            default=1,
            help="forward passes per optimizer step; the contrastive batch is batch size x this",
        )
        parser.add_argument("--no-amp", action="store_true", help="full precision on CUDA (AMP is on by default)")
        parser.add_argument("--lock-image", action="store_true", help="freeze the image tower (LiT)")
        parser.add_argument(
            "--image-unlocked-groups",
            type=int,
            default=0,
            help="with --lock-image: keep the last N groups trainable (projection, last block, ...)",
        )
        parser.add_argument("--lock-text", action="store_true", help="freeze the text tower")
        parser.add_argument(
            "--text-unlocked-layers",
            type=int,
            default=0,
            help="with --lock-text: keep the last N groups trainable (projection, last block, ...)",
        )
        parser.add_argument(
            "--patience", type=int, default=0, help="stop after N epochs without better validation recall (0: never)"
        )
        parser.add_argument("--workers", type=int, default=0, help="DataLoader processes for image augmentation")
        parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
        parser.add_argument("--val-fraction", type=float, default=0.1)
        parser.add_argument("--test-fraction", type=float, default=0.2)
        parser.add_argument(
            "--caption-template",
            help="catalog mode: str.format template over Artwork fields, e.g. '{title}. {medium_display}'",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["caption_template"] and not options["from_catalog"]:
            raise CommandError("--caption-template applies to --from-catalog only (a CSV carries its own captions)")
        started = time.monotonic()
        # --csv and --out may be any path: whoever runs this command already has a shell on the machine.
        # Jobs queued from the admin are confined to TRAINING_DIR instead (training.paths).
        try:
            report = finetune(
                architecture=options["model"],
                pretrained=options["pretrained"],
                out_dir=options["out"],
                csv_path=options["csv"],
                from_catalog=options["from_catalog"],
                caption_template=options["caption_template"],
                options=train_options(options),
                device=options["device"],
                val_fraction=options["val_fraction"],
                test_fraction=options["test_fraction"],
                register_name=options["register"],
                progress=self.stdout.write,
            )
        except (DatasetError, TrainingError, ModelLoadError) as exc:
            raise CommandError(str(exc)) from None
        out_dir: Path = options["out"]
        self.stdout.write(
            f"{report['n_train']} train / {report['n_val']} val / {report['n_test']} test pairs, "
            f"{report['skipped']} skipped, {time.monotonic() - started:.0f} s"
        )
        for name in report["before"]:
            self.stdout.write(f"  {name:<16} {report['before'][name]:.3f} -> {report['after'][name]:.3f}")
        self.stdout.write(f"checkpoint {out_dir / CHECKPOINT_NAME}, report {out_dir / REPORT_NAME}")
        if report["registered"]:
            self.stdout.write(f"registered inactive model {report['registered']!r}")


def train_options(options: dict[str, Any]) -> TrainOptions:
    return TrainOptions(
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        accumulation_steps=options["accumulation_steps"],
        lr=options["lr"],
        weight_decay=options["weight_decay"],
        warmup_fraction=options["warmup_fraction"],
        amp=not options["no_amp"],
        lock_image=options["lock_image"],
        image_unlocked_groups=options["image_unlocked_groups"],
        lock_text=options["lock_text"],
        text_unlocked_layers=options["text_unlocked_layers"],
        patience=options["patience"],
        seed=options["seed"],
        num_workers=options["workers"],
    )
