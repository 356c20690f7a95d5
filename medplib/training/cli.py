"""Train MedPLIB with the multi-stage MoE recipe (or the joint baseline) on accelerate.

    python -m medplib.train --out runs/builtin --recipe builtin      # reproduces the built-in model
    python -m medplib.train --out runs/rich --recipe rich            # the same with the rich wording (issue 18)
    python -m medplib.train --out runs/tiny                          # the paper's towers -> vl -> grounding -> moe
    python -m medplib.train --out runs/joint --stages towers,joint   # ablation: one dense model, same total steps
    accelerate launch -m medplib.train ...                           # the same command on several GPUs / nodes

Data: synthetic MeCoVQA-style samples generated in memory (default) or `--data FILE.json --image-folder DIR`
(our files or the official MeCoVQA / SA-Med2D layout; then start from pretrained encoders with --init, since the
towers stage needs phantom label maps). The questions about one image are trained as one conversation of up to
--max-turns turns. The language stages keep both image encoders frozen, as the original does, and run them once
per image instead of once per step. Each stage writes DIR/<stage>/ (model + tokenizer), saves resumable state
every `--save-every` steps, and the run writes DIR/run_summary.json."""

from __future__ import annotations

import argparse
import json
import string
import random
import time
import zlib
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..constants import QUESTION_NORMALIZATIONS
from ..processing.normalize import normalize_question
from ..synthetic import Sample, load_records, make_samples
from ..synthetic.wording import P_TEMPLATE, paraphrased
from ..model.modeling import MedPLIBForCausalLM
from ..processing import MedPLIBProcessor
from ..checkpoints.tokenizer import load_tokenizer, train_bpe_tokenizer
from .data import FreshWording, cache_tower_outputs, collate, encode_conversation, group_conversations, image_key, prepare_images
from .recipe import PRESETS, RECIPE, RECIPES, STAGES, build_moe, set_trainable, upcycle
from .towers import TOWER_PREFIXES, TowerPretraining, collate_towers, freeze_towers, tower_items


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# Every printable character, so that a word the training text never had still tokenises (no <unk>).
ALPHABET = " ".join(string.ascii_letters + string.digits + string.punctuation)


def corpus_for_tokenizer(samples: list[Sample], normalization: str = "none", alphabet: bool = False) -> list[str]:
    """The tokenizer's training text: the prompt frame, each question (as the model sees it) + answer, and with
    `alphabet` every printable character (for models meant to take words their training text never had)."""
    from ..processing import SYSTEM_TRAINING

    return [SYSTEM_TRAINING, "USER: ASSISTANT:"] + ([ALPHABET] if alphabet else []) + [
        normalize_question(s.question, normalization) + " " + s.answer for s in samples]


def run_tokenizer(args, samples: list[Sample], save: bool):
    """--init's tokenizer; else the one an earlier run into the same --out left, so that skipped and resumed stages
    keep their token ids even when the data arguments changed; else a BPE trained on the samples (kept in
    DIR/tokenizer/ for such reruns)."""
    if args.init:
        return load_tokenizer(args.init)
    for folder in [args.out / "tokenizer"] + [args.out / name for name in STAGES]:
        if (folder / "tokenizer.json").exists():
            return load_tokenizer(folder)
    corpus = corpus_for_tokenizer(samples, args.question_normalization, alphabet=args.wording == "rich")
    tokenizer = train_bpe_tokenizer(corpus, 1000)
    if save:
        tokenizer.save_pretrained(str(args.out / "tokenizer"))
    return tokenizer


def load_training_samples(args) -> list[Sample]:
    if args.data:
        return load_records(args.data, args.image_folder)
    return make_samples(args.n_train, seed=args.seed, size=args.image_size, split="train", per_image=args.per_image)


class ItemBatches:
    """Endless shuffled batches of in-memory items (a new permutation each epoch), collated by `collate_fn`."""

    def __init__(self, items: list, batch_size: int, seed: int, collate_fn):
        if not items:
            raise ValueError("no training items")
        self.items, self.batch_size, self.collate_fn = items, batch_size, collate_fn
        self.rng = random.Random(seed)
        self.order: list[int] = []

    def __next__(self) -> dict:
        if len(self.order) < self.batch_size:
            extra = list(range(len(self.items)))
            self.rng.shuffle(extra)
            self.order += extra
        picked, self.order = self.order[: self.batch_size], self.order[self.batch_size :]
        return self.collate_fn([self.items[i] for i in picked])


def lr_lambda(warmup: int, total: int):
    """Linear warm-up then linear decay to 0 (the original's WarmupDecayLR)."""
    return lambda step: min(1.0, (step + 1) / max(1, warmup)) * max(0.0, (total - step) / max(1, total - warmup))


def to_device(batch: dict, device: torch.device) -> dict:
    def move(v):
        if torch.is_tensor(v):
            return v.to(device)
        if isinstance(v, list):
            return [move(x) for x in v]
        return v

    return {k: move(v) for k, v in batch.items()}


def optimise(stage_name: str, module: torch.nn.Module, batches, loss_fn, out: Path, steps: int, args,
             accelerator) -> dict:
    """The training loop every stage shares: AdamW on `module`'s trainable parameters, warm-up + linear decay,
    clipping, resumable state under DIR/<stage>.state (the data order is replayed on resume)."""
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(max(1, int(0.03 * steps)), steps))
    module, optimizer, scheduler = accelerator.prepare(module, optimizer, scheduler)
    state_dir = out / f"{stage_name}.state"
    start = 0
    if (state_dir / "step.json").exists():
        accelerator.load_state(str(state_dir))
        start = json.loads((state_dir / "step.json").read_text())["step"]
        for _ in range(start):
            next(batches)
    module.train()
    history: list[float] = []
    t0 = time.time()
    bar = tqdm(range(start, steps), desc=f"stage {stage_name}", disable=not accelerator.is_local_main_process)
    for step in bar:
        batch = to_device(next(batches), accelerator.device)
        with accelerator.accumulate(module):
            loss = loss_fn(module, batch)
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        history.append(float(loss.detach()))
        if step % 10 == 0:
            bar.set_postfix(loss=f"{np.mean(history[-50:]):.3f}")
        if args.save_every and (step + 1) % args.save_every == 0 and step + 1 < steps:
            accelerator.save_state(str(state_dir))
            if accelerator.is_main_process:
                (state_dir / "step.json").write_text(json.dumps({"step": step + 1}))
    accelerator.unwrap_model(module).eval()
    return {
        "stage": stage_name, "steps": steps, "trainable_parameters": sum(p.numel() for p in params),
        "seconds": round(time.time() - t0, 1),
        "loss_first_50": float(np.mean(history[:50])) if history else None,
        "loss_last_50": float(np.mean(history[-50:])) if history else None,
        "loss_history": [round(v, 4) for v in history],
    }


def make_accelerator():
    """The Accelerator of every training run. Under DDP (`accelerate launch`, more than one process) a trainable
    parameter may get no gradient in a step: the expert a top-1 MoE routes none of the batch's tokens to, the
    seg_projector / region adapter in a batch without <SEG> / regions. DDP must look for those each step (the
    traversal costs little next to the step), or the next step fails waiting for their gradients."""
    from accelerate import Accelerator, DistributedDataParallelKwargs

    return Accelerator(kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])


def stage_seed(args, stage_name: str) -> int:
    return args.seed + zlib.crc32(stage_name.encode()) % 1000  # str hash() is randomised per process


def run_stage(stage_name: str, model: MedPLIBForCausalLM, samples, images, processor, out: Path, steps: int, args,
              accelerator) -> dict:
    """One language stage (vl / grounding / moe / joint) on the conversations made of its kinds of samples."""
    stage = STAGES[stage_name]
    set_trainable(model, stage.trainable)
    freeze_towers(model)
    if any(im.clip_features is None for im in images.values()):  # the stages of a run share the frozen encoders
        t0 = time.time()
        cache_tower_outputs(list(images.values()), model.to(accelerator.device))
        print(f"cached the frozen encoders' outputs in {time.time() - t0:.1f} s")
    seed = stage_seed(args, stage_name)
    groups = group_conversations(samples, stage.kinds, args.max_turns, seed)
    if not groups:
        raise ValueError(f"no training samples of kinds {stage.kinds}")
    pad = processor.tokenizer.pad_token_id
    if args.wording == "rich":  # other words every time a conversation comes round (encoded per batch, ~ms)
        share = args.moe_template_share if stage_name == "moe" and args.moe_template_share is not None \
            else args.template_share
        encode = FreshWording(images, processor, seed, p_template=share)
        batches = ItemBatches(groups, args.batch_size, seed, lambda batch: collate([encode(t) for t in batch], pad))
    else:
        conversations = [encode_conversation(turns, images[image_key(turns[0])], processor) for turns in groups]
        batches = ItemBatches(conversations, args.batch_size, seed, lambda batch: collate(batch, pad))
    tokenizer = processor.tokenizer
    result = optimise(stage_name, model, batches, lambda m, b: m(**b).loss, out, steps, args, accelerator)
    save_stage(accelerator.unwrap_model(model), tokenizer, out / stage_name, accelerator)
    return result


def run_towers_stage(model: MedPLIBForCausalLM, images, processor, out: Path, args, accelerator) -> dict:
    """Stage 1 stand-in: dense-label pretraining of the CLIP and SAM encoders (medplib.training.towers)."""
    t0 = time.time()
    items = tower_items(args.tower_images or max(1, args.n_train // args.per_image), processor,
                        model.config.sam.grid_size, args.seed, args.image_size, prepared=images)
    encode_seconds = time.time() - t0
    set_trainable(model, TOWER_PREFIXES)
    pretraining = TowerPretraining(model)
    batches = ItemBatches(items, args.tower_batch_size, stage_seed(args, "towers"), collate_towers)
    result = optimise("towers", pretraining, batches, lambda m, b: m(b), out, args.tower_steps, args, accelerator)
    result["encode_seconds"] = round(encode_seconds, 1)
    result["images"] = len(items)
    save_stage(model, processor.tokenizer, out / "towers", accelerator)
    return result


def save_stage(model: MedPLIBForCausalLM, tokenizer, folder: Path, accelerator) -> None:
    model.eval()
    if accelerator.is_main_process:
        model.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))
    accelerator.wait_for_everyone()


def parse_args(argv: list[str] | None = None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The command line; `--recipe NAME` sets the flags that made a shipped checkpoint (explicit flags win)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--recipe", choices=sorted(RECIPES),
                        help="named recipe: 'builtin' reproduces the built-in model (medplib/assets/medplib-tiny)")
    parser.add_argument("--stages", default=",".join(RECIPE), help=f"comma list from {sorted(STAGES)}")
    parser.add_argument("--total-steps", type=int, default=2800, help="split over the stages by their shares")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=12000, help="synthetic training samples")
    parser.add_argument("--per-image", type=int, default=6, help="questions per synthetic image")
    parser.add_argument("--max-turns", type=int, default=6,
                        help="questions about one image are trained as conversations of up to this many turns")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--wording", choices=("template", "rich"), default="template",
                        help="questions in the generator's templates, or re-said in the rich training wording "
                             "(synthetic/wording.py), anew each time a conversation is trained on")
    parser.add_argument("--template-share", type=float, default=P_TEMPLATE,
                        help="with --wording rich: share of questions kept in the generator's own wording")
    parser.add_argument("--moe-template-share", type=float, default=None,
                        help="the same for the moe stage only (default: --template-share)")
    parser.add_argument("--question-normalization", choices=QUESTION_NORMALIZATIONS, default="none",
                        help="the model config's question_normalization: 'lower' lower-cases questions and drops the "
                             "final punctuation, at training and inference (processing/normalize.py)")
    parser.add_argument("--data", help="MeCoVQA-format JSON instead of synthetic data")
    parser.add_argument("--image-folder")
    parser.add_argument("--init", help="checkpoint to start from (default: a fresh model of --preset size)")
    parser.add_argument("--preset", default="tiny", choices=sorted(PRESETS), help="model size for a fresh model")
    parser.add_argument("--save-every", type=int, default=500)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--tower-steps", type=int, default=600, help="steps of the towers stage")
    parser.add_argument("--tower-batch-size", type=int, default=32)
    parser.add_argument("--tower-images", type=int, default=0,
                        help="phantoms for the towers stage (0: the images of the question samples)")
    recipe = parser.parse_known_args(argv)[0].recipe
    if recipe:
        parser.set_defaults(**RECIPES[recipe])
    return parser, parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    parser, args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {unknown}; choose from {sorted(STAGES)}")
    seed_everything(args.seed)
    accelerator = make_accelerator()
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.time()
    samples = load_training_samples(args)
    # The tokenizer learns from the questions in the stage's wording (one rich pass stands for all of them).
    tokenizer = run_tokenizer(args, paraphrased(samples, args.seed) if args.wording == "rich" else samples,
                              accelerator.is_main_process)
    seg_id = tokenizer.convert_tokens_to_ids("<SEG>")
    config = PRESETS[args.preset](len(tokenizer), seg_id, num_experts=1)
    config.question_normalization = args.question_normalization
    processor = MedPLIBProcessor(tokenizer, clip_image_size=config.vision_config.image_size,
                                 patch_size=config.vision_config.patch_size, sam_image_size=config.sam.image_size,
                                 region_grid_mode=config.region_grid,
                                 question_normalization=config.question_normalization)
    images = prepare_images(samples, processor)
    data_seconds = time.time() - t0

    if "towers" in stages and args.data:
        parser.error("the towers stage needs phantom label maps: synthetic data only (start from --init instead)")
    shares = sum(STAGES[s].share for s in stages) or 1.0
    summary = {"stages": [], "args": {k: str(v) for k, v in vars(args).items()}, "n_samples": len(samples),
               "data_seconds": round(data_seconds, 1)}
    models: dict[str, MedPLIBForCausalLM] = {}
    for name in stages:
        steps = max(1, round(args.total_steps * STAGES[name].share / shares))
        done = args.out / name / "config.json"
        if done.exists():
            models[name] = MedPLIBForCausalLM.from_pretrained(str(args.out / name))
            summary["stages"].append({"stage": name, "skipped": "already trained"})
            continue
        if name == "towers":
            model = MedPLIBForCausalLM.from_pretrained(args.init) if args.init else MedPLIBForCausalLM(config)
            result = run_towers_stage(model, images, processor, args.out, args, accelerator)
        else:
            if name == "moe":
                if "vl" in models and "grounding" in models:
                    model = build_moe(models["vl"], models["grounding"])
                elif "joint" in models:
                    model = upcycle(models["joint"])
                else:
                    parser.error("stage moe needs the vl and grounding stages, or the joint stage (in this run or "
                                 "already in --out)")
            elif name == "grounding" and "vl" in models:
                model = MedPLIBForCausalLM.from_pretrained(str(args.out / "vl"))  # a copy: vl stays intact
            elif "towers" in models:
                model = MedPLIBForCausalLM.from_pretrained(str(args.out / "towers"))
            elif args.init:
                model = MedPLIBForCausalLM.from_pretrained(args.init)
            else:
                model = MedPLIBForCausalLM(config)
            result = run_stage(name, model, samples, images, processor, args.out, steps, args, accelerator)
        summary["stages"].append(result)
        models[name] = accelerator.unwrap_model(model)
        if accelerator.is_main_process:
            print(json.dumps({k: v for k, v in summary["stages"][-1].items() if k != "loss_history"}))
    summary["total_seconds"] = round(time.time() - t0, 1)
    summary["final"] = str(args.out / stages[-1])
    if accelerator.is_main_process:
        (args.out / "run_summary.json").write_text(json.dumps(summary, indent=1))
        print(f"done in {summary['total_seconds']} s; final model: {summary['final']}")
    accelerator.end_training()  # destroys the process group: gloo's threads abort the exit if left running
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
