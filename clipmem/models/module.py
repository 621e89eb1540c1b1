"""The CLIP LightningModule: an open_clip model trained with open_clip's contrastive loss."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from open_clip.loss import ClipLoss

from clipmem.errors import ConfigError
from clipmem.mitigations.hooks import EmbeddingNoise
from clipmem.models.factory import build_clip, resolve_model_cfg
from clipmem.models.pretrained import load_pretrained
from clipmem.models.schedule import adamw_with_schedule

LOGIT_SCALE_MAX = math.log(100.0)


class LossSteps:
    """``training_step`` and ``validation_step`` of a LightningModule around its ``_loss(batch)``: logs
    ``<log_prefix>train/loss`` (step and epoch), what ``_log_training`` adds, the learning rate this step uses
    (warm-up, cosine) and ``<log_prefix>val/loss``. Shared by CLIP's module and the other families'."""

    log_prefix: str

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def _log_training(self) -> None:
        """Extra values logged after the training loss (none here)."""

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log(f"{self.log_prefix}train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        self._log_training()
        if self._trainer is not None and self.trainer.optimizers:
            self.log(f"{self.log_prefix}train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], on_step=True,
                     on_epoch=False)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log(f"{self.log_prefix}val/loss", loss, prog_bar=True, on_epoch=True, sync_dist=True)
        return loss


class CLIPModule(LossSteps, L.LightningModule):
    """Wraps an open_clip CLIP (untrained, or from ``pretrained`` weights) and its contrastive objective.

    Args:
        arch: open_clip registry name (``ViT-B-32``) or an inline ``model_cfg`` dict.
        image_size: input side in pixels (overrides the architecture's).
        context_length: text context length in tokens (overrides the architecture's).
        optimizer: partial optimizer taking the parameter groups (``_partial_: true`` in Hydra).
        weight_decay: decay of weight matrices; gains, biases, norms and logit_scale get none (open_clip's rule).
        warmup_steps: linear warmup length; a value < 1 is a fraction of all training steps.
        min_lr_ratio: the cosine schedule's final learning rate as a fraction of the base rate.
        log_prefix: prefix of logged metric names (``f/`` or ``g/`` inside an experiment).
        lock_image: freeze the image tower (open_clip's ``lock_image_tower``; kept in eval mode, so
            BatchNorm statistics stay fixed too).
        lock_text: freeze the text tower (open_clip's ``lock_text_tower``).
        noise: noise added to the loss's embeddings while training (a mitigation's ``embedding_noise()``),
            or None; each optimizer step and device draws its own.
        compile: ``torch.compile`` the image and text towers in place (state-dict keys unchanged);
            a dict is passed to ``compile`` as keyword arguments (e.g. ``{mode: max-autotune}``).
        channels_last: channels-last memory format for the model's 4-d weights and the input images
            (helps convolutional stems, e.g. RN50, on GPUs).
        grad_checkpointing: open_clip's activation checkpointing (``set_grad_checkpointing``): less
            memory for more compute.
        fused_optimizer: pass ``fused=True`` to the optimizer on CUDA (fused AdamW); ignored on CPU.
        pretrained: starting weights (``clipmem.models.pretrained``): an open_clip tag of ``arch``, a checkpoint
            file (.safetensors/.pt/.pth/.bin state dict) or ``local-dir:<folder>``; None: seeded random weights.
        cache_dir: where open_clip keeps downloaded tag weights (None: its default caches).
    """

    def __init__(
        self,
        arch: str | dict[str, Any],
        image_size: int,
        context_length: int,
        optimizer: Callable[..., torch.optim.Optimizer],
        weight_decay: float = 0.1,
        warmup_steps: float = 0.05,
        min_lr_ratio: float = 0.0,
        log_prefix: str = "",
        lock_image: bool = False,
        lock_text: bool = False,
        noise: EmbeddingNoise | None = None,
        compile: bool | dict[str, Any] = False,
        channels_last: bool = False,
        grad_checkpointing: bool = False,
        fused_optimizer: bool = False,
        pretrained: str | None = None,
        cache_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer", "noise"], logger=False)
        self.model_cfg = resolve_model_cfg(arch, image_size, context_length)
        self.clip = build_clip(self.model_cfg)
        if pretrained:  # on the meta device (validation) only keys and shapes are checked
            load_pretrained(self.clip, pretrained, arch, cache_dir)
        if lock_image and lock_text:
            raise ConfigError("model.lock_image and model.lock_text are both true: nothing but the temperature "
                              "would train; lock at most one tower")
        if lock_image:  # BatchNorm statistics stay fixed through ``train`` below (state dict unchanged)
            self.clip.lock_image_tower(unlocked_groups=0, freeze_bn_stats=False)
        if lock_text:
            self.clip.lock_text_tower(unlocked_layers=0)
        self.optimizer_factory = optimizer
        self.noise = noise
        self.log_prefix = log_prefix
        self.loss_fn = ClipLoss()
        if grad_checkpointing:
            self.clip.set_grad_checkpointing(True)
        if channels_last:
            self.clip.to(memory_format=torch.channels_last)
        if compile:
            options = compile if isinstance(compile, dict) else {}
            for tower in ("visual", "transformer", "text"):  # CLIP has visual+transformer, CustomTextCLIP text
                if isinstance(getattr(self.clip, tower, None), torch.nn.Module):
                    getattr(self.clip, tower).compile(**options)

    # ---------------------------------------------------------------------------------- set-up
    def setup(self, stage: str) -> None:
        """Build the loss once rank and world size are known: global negatives across devices."""
        world = self.trainer.world_size if self._trainer is not None else 1
        rank = self.trainer.global_rank if self._trainer is not None else 0
        self.loss_fn = ClipLoss(local_loss=True, gather_with_grad=True, cache_labels=True, rank=rank, world_size=world)

    def train(self, mode: bool = True) -> CLIPModule:
        """As ``nn.Module.train``, but a locked image tower always stays in eval mode (fixed BatchNorm stats)."""
        super().train(mode)
        if self.hparams.get("lock_image", False):
            self.clip.visual.eval()
        return self

    # ---------------------------------------------------------------------------------- forward
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised image embeddings (B, D) from normalised images (B, 3, S, S)."""
        return self.clip.encode_image(images, normalize=True)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Normalised text embeddings (B, D) from token ids (B, L)."""
        return self.clip.encode_text(tokens, normalize=True)

    def loss_features(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Image and text embeddings (B, D) as the loss sees them: with the configured noise while
        training (one draw per optimizer step), exactly ``encode_image``/``encode_text`` otherwise."""
        images = batch["image"]
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        image_features = self.encode_image(images)
        text_features = self.encode_text(batch["text"])
        if self.training and self.noise is not None:
            step = self.global_step if self._trainer is not None else 0
            rank = self.global_rank if self._trainer is not None else 0
            image_features, text_features = self.noise(image_features, text_features, step, rank)
        return image_features, text_features

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        image_features, text_features = self.loss_features(batch)
        return self.loss_fn(image_features, text_features, self.clip.logit_scale.exp())

    def _log_training(self) -> None:
        self.log(f"{self.log_prefix}train/logit_scale", self.clip.logit_scale.exp(), on_step=True, on_epoch=False)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        with torch.no_grad():  # CLIP's temperature bound: logit scale in [1, 100]
            self.clip.logit_scale.clamp_(0.0, LOGIT_SCALE_MAX)

    # ---------------------------------------------------------------------------------- optim
    def parameter_groups(self) -> list[dict[str, Any]]:
        """AdamW groups as open_clip's trainer makes them: no decay on 1-d tensors, norms, biases, logit_scale."""
        decay, no_decay = [], []
        for name, param in self.clip.named_parameters():
            if not param.requires_grad:
                continue
            exclude = param.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
            (no_decay if exclude else decay).append(param)
        return [
            {"params": decay, "weight_decay": self.hparams.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]

    def configure_optimizers(self) -> dict[str, Any]:
        fused = self.hparams.fused_optimizer and self.device.type == "cuda"
        return adamw_with_schedule(self.optimizer_factory, self.parameter_groups(),
                                   int(self.trainer.estimated_stepping_batches), self.hparams.warmup_steps,
                                   self.hparams.min_lr_ratio, fused)
