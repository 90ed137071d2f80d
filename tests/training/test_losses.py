"""The two losses against their formulas, and the causal eval path against the training forward."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from kronos_quant.model import Kronos, KronosConfig, KronosTokenizer, TokenizerConfig
from kronos_quant.training.losses import next_token_split, predictor_loss, tokenizer_loss


def test_tokenizer_loss_is_half_of_both_mses_plus_bsq(tokenizer_arch):
    torch.manual_seed(0)
    model = KronosTokenizer(TokenizerConfig(**tokenizer_arch))
    bars = torch.randn(3, 10, 6)
    loss = tokenizer_loss(model, bars)
    out = model(bars)
    expected = (F.mse_loss(out.recon_coarse, bars) + F.mse_loss(out.recon_full, bars) + out.bsq_loss.total) / 2
    torch.testing.assert_close(loss.total, expected)
    torch.testing.assert_close(loss.total, (loss.recon_coarse + loss.recon_full + loss.bsq) / 2)


def test_predictor_loss_uses_next_token_targets_and_causal_eval(predictor_arch):
    torch.manual_seed(0)
    model = Kronos(KronosConfig(**predictor_arch))
    s1, s2 = torch.randint(0, 16, (2, 12)), torch.randint(0, 16, (2, 12))
    stamp = torch.randint(0, 7, (2, 12, 5))
    (s1_in, s2_in, stamp_in), (s1_t, s2_t) = next_token_split(s1, s2, stamp)
    assert s1_in.shape == (2, 11) and torch.equal(s1_t, s1[:, 1:]) and stamp_in.shape == (2, 11, 5)
    train_loss = predictor_loss(model.train(), s1, s2, stamp)  # no dropout: train mode is deterministic
    logits = model(s1_in, s2_in, stamp_in, s1_condition=s1_t)
    expected_s1 = F.cross_entropy(logits.s1_logits.flatten(0, 1), s1_t.flatten())
    expected_s2 = F.cross_entropy(logits.s2_logits.flatten(0, 1), s2_t.flatten())
    torch.testing.assert_close(train_loss.total, (expected_s1 + expected_s2) / 2)
    eval_loss = predictor_loss(model.eval(), s1, s2, stamp)  # causal by hand, no leak of the target
    torch.testing.assert_close(eval_loss.total, train_loss.total)
