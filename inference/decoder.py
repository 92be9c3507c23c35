"""A faster forward pass for the SAM / SAM 2 mask decoder, over transformers' weights.

The networks are transformers' `SamMaskDecoder` / `Sam2MaskDecoder`; this module only
re-orders their arithmetic. Per click the decoder runs a two-way transformer between
n ~ 7 prompt tokens and N = 64*64 image tokens, then upsamples the image tokens 4x.
What costs is every (N, C) x (C, C/2) projection of the image tokens. We avoid most:

* Layer 0 sees the image tokens before any prompt touches them, so its three image
  projections (token->image keys and values, image->token queries) depend on the
  image only. `prepare` computes them once per embedding.
* Elsewhere attention is re-associated so the image tokens meet the few prompt
  tokens first. For token->image attention, softmax(Q (X Wk)^T) X Wv becomes
  softmax((Q Wk) X^T) (P X) Wv, and the key bias drops out (it shifts a whole softmax
  row). For image->token attention the query and output projections fold into the
  keys and values. Each costs 2 h n N C instead of 2 N C C/2 multiply-adds, a win
  while h n < C/2 (8 heads x 7 tokens = 56 < 128); with many points we fall back to
  the textbook order.
* The last token->image attention only runs for the tokens read afterwards (the IoU
  token and the returned mask tokens), and residual additions ride along in the
  output matmuls (`baddbmm`), saving passes over the (N, C) image tokens: on a CPU
  those passes cost about as much as the arithmetic.
* The 2x2-stride transposed convolutions are plain matmuls on channel-last pixels,
  kept in "blocked" order (y, x, i, j) so no (N, C) permute is ever copied; only
  the final (m, 256, 256) masks are permuted.

Results equal transformers' forward to float rounding (tests compare the two).

Shapes: B prompts per call, n tokens, N = G*G image tokens (G = 64), C channels
(256), h heads, d = C / (2 h) head size, m masks returned per prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

# transformers sub-modules. Their attributes (q_proj, layer_norm1, ...) are resolved
# dynamically by Module, which static typing cannot follow.
Module = Any


@dataclass
class PreparedImage:
    """Prompt-independent tensors for one embedding on one model (see module doc).

    x0: (N, C) image tokens + the no-mask embedding;
    k0_t, q0_t: (h, d, N) layer-0 keys / queries, transposed for matmul;
    v0: (h, N, d) layer-0 values; s1: (N, 4 C/4) and s0: (N*4, 4 C/8) SAM 2
    high-resolution features in blocked pixel order plus the upscaling convs' biases
    (None for SAM).
    """

    x0: torch.Tensor
    k0_t: torch.Tensor
    q0_t: torch.Tensor
    v0: torch.Tensor
    s1: torch.Tensor | None
    s0: torch.Tensor | None


def _linear(x: torch.Tensor, layer: Module) -> torch.Tensor:
    return F.linear(x, layer.weight, layer.bias)


def _out_proj(attn: Module) -> Module:
    # SamAttention calls it out_proj, Sam2Attention o_proj.
    return attn.out_proj if hasattr(attn, "out_proj") else attn.o_proj


class FastMaskDecoder:
    """Runs a transformers mask decoder (`SamMaskDecoder` or `Sam2MaskDecoder`) faster.

    `image_pe` is the model's dense positional encoding (1, C, G, G); `no_mask` the
    prompt encoder's no-mask embedding (1, C). Output tokens are [iou, mask x 4] for
    SAM and [object score, iou, mask x 4] for SAM 2.
    """

    def __init__(self, decoder: Module, image_pe: torch.Tensor, no_mask: torch.Tensor):
        self.decoder = decoder
        self.is_sam2 = hasattr(decoder, "obj_score_token")
        self.pos = image_pe[0].flatten(1).T.contiguous()  # (N, C)
        self.grid = image_pe.shape[-1]
        self.no_mask = no_mask.reshape(1, -1)
        first = [decoder.obj_score_token.weight] if self.is_sam2 else []
        self.output_tokens = torch.cat(
            [*first, decoder.iou_token.weight, decoder.mask_tokens.weight]
        )  # (T, C)
        self.iou_index = len(first)
        self.num_mask_tokens = decoder.num_mask_tokens
        attn = decoder.transformer.layers[0].cross_attn_token_to_image
        self.heads = attn.num_attention_heads
        # Transposed convs (C_in, C_out, 2, 2) as (C_in, 4 C_out) matmuls, columns (i, j, c).
        conv1, conv2 = decoder.upscale_conv1, decoder.upscale_conv2
        self.c4, self.c8 = conv1.weight.shape[1], conv2.weight.shape[1]
        self.w1 = conv1.weight.permute(0, 2, 3, 1).reshape(conv1.weight.shape[0], -1).contiguous()
        self.b1 = conv1.bias.repeat(4)
        self.w2 = conv2.weight.permute(0, 2, 3, 1).reshape(self.c4, -1).contiguous()
        self.b2 = conv2.bias.repeat(4)

    # ----------------------------------------------------------------- per image
    def prepare(
        self, image_embeddings: torch.Tensor, high_res: tuple[torch.Tensor, torch.Tensor] | None
    ) -> PreparedImage:
        """Image-side work shared by every prompt: (1, C, G, G) [+ SAM 2 features]."""
        layer = self.decoder.transformer.layers[0]
        h = self.heads
        image = image_embeddings[0].flatten(1).T.contiguous()  # (N, C)
        x0 = image + self.no_mask
        xp0 = x0 + self.pos
        k0 = _linear(xp0, layer.cross_attn_token_to_image.k_proj)
        v0 = _linear(x0, layer.cross_attn_token_to_image.v_proj)
        q0 = _linear(xp0, layer.cross_attn_image_to_token.q_proj)
        n_tok = image.shape[0]
        s0 = s1 = None
        if high_res is not None:
            g = self.grid
            f0, f1 = high_res  # (1, C/8, 4G, 4G), (1, C/4, 2G, 2G)
            # Pixel (2y+i, 2x+j) of s1 -> row ((y*G + x)*2 + i)*2 + j; likewise twice for s0.
            s1 = f1[0].reshape(self.c4, g, 2, g, 2).permute(1, 3, 2, 4, 0).reshape(-1, self.c4)
            s0 = (f0[0].reshape(self.c8, g, 2, 2, g, 2, 2).permute(1, 4, 2, 5, 3, 6, 0)).reshape(
                -1, self.c8
            )
        return PreparedImage(
            x0=x0,
            k0_t=k0.view(n_tok, h, -1).permute(1, 2, 0).contiguous(),
            q0_t=q0.view(n_tok, h, -1).permute(1, 2, 0).contiguous(),
            v0=v0.view(n_tok, h, -1).transpose(0, 1).contiguous(),
            # Fold each transposed conv's bias into the feature map it is added to.
            s1=None if s1 is None else (s1.reshape(n_tok, -1) + self.b1).contiguous(),
            s0=None if s0 is None else (s0.reshape(n_tok * 4, -1) + self.b2).contiguous(),
        )

    # ------------------------------------------------------------------ forward
    def __call__(
        self,
        prep: PreparedImage,
        sparse: torch.Tensor,
        dense: torch.Tensor | None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """sparse (B, n_s, C) prompt tokens, dense (B, C, G, G) mask embedding or None.

        Returns low-res logits (B, m, 4G, 4G) and predicted IoU (B, m), m = 3 if
        `multimask` else 1, in the order the model outputs them.
        """
        tr = self.decoder.transformer
        batch = sparse.shape[0]
        tokens = self.output_tokens.to(sparse.dtype).expand(batch, -1, -1)
        qpe = torch.cat([tokens, sparse], dim=1)  # (B, n, C), also the token "positions"
        cached = dense is None
        # A mask prompt's embedding replaces the no-mask one on every image token.
        x = prep.x0[None]
        if dense is not None:
            x = x - self.no_mask + dense.flatten(2).transpose(1, 2)
        queries = qpe
        for index, layer in enumerate(tr.layers):
            if layer.skip_first_layer_pe:
                queries = self._self_attention(layer.self_attn, queries, queries)
            else:
                q = queries + qpe
                queries = queries + self._self_attention(layer.self_attn, q, queries)
            queries = layer.layer_norm1(queries)
            q = queries + qpe
            use_cache = cached and index == 0
            xp: torch.Tensor | None = None
            if use_cache:
                attn_out = self._token_to_image_cached(layer.cross_attn_token_to_image, q, prep)
            else:
                xp = x + self.pos
                attn_out = self._token_to_image(layer.cross_attn_token_to_image, q, x, xp)
            queries = layer.layer_norm2(queries + attn_out)
            queries = layer.layer_norm3(queries + layer.mlp(queries))
            q = queries + qpe
            x = self._image_to_token(
                layer.cross_attn_image_to_token, x, xp, q, queries, prep.q0_t if use_cache else None
            )
            x = layer.layer_norm4(x)
        # The last attention updates each token on its own, and only the IoU token and
        # the mask tokens we return are read afterwards: skip the others.
        picked = self._picked_masks(multimask)
        rows = [self.iou_index] + [self.iou_index + 1 + i for i in picked]
        queries, qpe = queries[:, rows], qpe[:, rows]
        attn_out = self._token_to_image(
            tr.final_attn_token_to_image, queries + qpe, x, x + self.pos
        )
        queries = tr.layer_norm_final_attn(queries + attn_out)  # (B, 1 + m', C)
        return self._heads(prep, queries, x, picked, multimask)

    def _picked_masks(self, multimask: bool) -> list[int]:
        """Mask tokens to decode: 1-3 for multimask; 0 for a single mask, plus 1-3 for
        SAM 2's fallback to the best multimask output when mask 0 is unstable."""
        if multimask:
            return list(range(1, self.num_mask_tokens))
        if self.is_sam2 and self.decoder.dynamic_multimask_via_stability:
            return list(range(self.num_mask_tokens))
        return [0]

    # --------------------------------------------------------------- attention
    def _split(self, t: torch.Tensor) -> torch.Tensor:  # (B, L, h d) -> (B, h, L, d)
        return t.view(t.shape[0], t.shape[1], self.heads, -1).transpose(1, 2)

    def _merge(self, t: torch.Tensor) -> torch.Tensor:  # (B, h, L, d) -> (B, L, h d)
        return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], -1)

    def _self_attention(self, attn: Module, q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Token self-attention (queries and keys both `q`): n x n, cheap either way."""
        out = F.scaled_dot_product_attention(
            self._split(_linear(q, attn.q_proj)),
            self._split(_linear(q, attn.k_proj)),
            self._split(_linear(v, attn.v_proj)),
        )
        return _linear(self._merge(out), _out_proj(attn))

    def _token_to_image_cached(
        self, attn: Module, q: torch.Tensor, prep: PreparedImage
    ) -> torch.Tensor:
        """Layer-0 tokens -> image with precomputed keys / values: (B, n, C)."""
        query = self._split(_linear(q, attn.q_proj)) * attn.scaling  # (B, h, n, d)
        probs = _softmax(query @ prep.k0_t, -1)  # (B, h, n, N)
        return _linear(self._merge(probs @ prep.v0), _out_proj(attn))

    def _token_to_image(
        self, attn: Module, q: torch.Tensor, x: torch.Tensor, xp: torch.Tensor
    ) -> torch.Tensor:
        """Tokens (B, n, C) attend to image tokens x (B, N, C) keyed by xp = x + pos."""
        batch, n, channels = q.shape
        query = self._split(_linear(q, attn.q_proj))  # (B, h, n, d)
        h, d = query.shape[1], query.shape[3]
        if n >= d:  # many tokens (h n >= C/2): project the image tokens, textbook order
            out = F.scaled_dot_product_attention(
                query,
                self._split(_linear(xp, attn.k_proj)).expand(batch, -1, -1, -1),
                self._split(_linear(x, attn.v_proj)).expand(batch, -1, -1, -1),
            )
            return _linear(self._merge(out), _out_proj(attn))
        w_k = attn.k_proj.weight.view(h, d, channels)
        folded = (query * attn.scaling) @ w_k  # (B, h, n, C); k bias: constant per row
        probs = _softmax(folded.reshape(batch, h * n, channels) @ xp.transpose(1, 2), -1)
        pooled = (probs @ x).view(batch, h, n, channels)  # (B, h, n, C)
        w_v = attn.v_proj.weight.view(h, d, channels)
        # Softmax rows sum to 1, so the value bias passes through unchanged.
        values = pooled @ w_v.transpose(1, 2) + attn.v_proj.bias.view(h, 1, d)
        return _linear(self._merge(values), _out_proj(attn))

    def _image_to_token(
        self,
        attn: Module,
        x: torch.Tensor,
        xp: torch.Tensor | None,
        q: torch.Tensor,
        values_in: torch.Tensor,
        q0_t: torch.Tensor | None,
    ) -> torch.Tensor:
        """Image tokens x (B, N, C), queried as xp = x + pos, attend to the n tokens.

        Returns x + attention output (B, N, C): the residual is accumulated by the
        output matmul itself. With `q0_t` (layer 0) the image queries come from the cache.
        """
        out_proj = _out_proj(attn)
        keys = self._split(_linear(q, attn.k_proj))  # (B, h, n, d)
        values = self._split(_linear(values_in, attn.v_proj))
        batch, h, n, d = keys.shape
        channels = out_proj.weight.shape[0]
        if q0_t is None and n >= d:  # many tokens: textbook order
            assert xp is not None
            query = self._split(_linear(xp, attn.q_proj)).expand(batch, -1, -1, -1)
            out = F.scaled_dot_product_attention(query, keys, values)
            return x + _linear(self._merge(out), out_proj)
        keys = keys * attn.scaling
        if q0_t is not None:
            logits_t = keys @ q0_t  # (B, h, n, N)
        else:
            assert xp is not None
            w_q = attn.q_proj.weight.view(h, d, channels)
            folded = (keys @ w_q).reshape(batch, h * n, channels)  # (B, h n, C)
            bias = (keys @ attn.q_proj.bias.view(h, d, 1)).reshape(batch, h * n, 1)
            logits_t = torch.baddbmm(bias, folded, xp.transpose(1, 2).expand(batch, -1, -1))
            logits_t = logits_t.view(batch, h, n, -1)
        probs_t = _softmax(logits_t, 2).reshape(batch, h * n, -1)  # softmax over the n tokens
        w_o = out_proj.weight.view(channels, h, d).permute(1, 2, 0)  # (h, d, C)
        # Each head's probabilities sum to 1 over its n tokens, so adding bias / h to
        # every folded value row adds the output bias exactly once.
        value_out = (values @ w_o + out_proj.bias / h).reshape(batch, h * n, channels)
        return torch.baddbmm(x, probs_t.transpose(1, 2), value_out)  # x + P^T V Wo

    # ------------------------------------------------------------------- heads
    def _heads(
        self,
        prep: PreparedImage,
        queries: torch.Tensor,
        x: torch.Tensor,
        picked: list[int],
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """queries (B, 1 + m', C): the IoU token then the picked mask tokens."""
        dec = self.decoder
        batch, g = queries.shape[0], self.grid
        scores = dec.iou_prediction_head(queries[:, 0])[:, picked]  # (B, m')
        hyper = torch.stack(
            [dec.output_hypernetworks_mlps[i](queries[:, 1 + k]) for k, i in enumerate(picked)],
            dim=1,
        )  # (B, m', C/8)

        # Upscale 4x: each transposed conv is a matmul in blocked pixel order.
        ln = dec.upscale_layer_norm
        up = self._conv_t(x.reshape(-1, x.shape[-1]), self.w1, self.b1, prep.s1, batch)
        up = F.layer_norm(up.view(batch, -1, self.c4), (self.c4,), ln.weight, ln.bias, ln.eps)
        gelu_(up)  # (B, N*4, C/4)
        up = self._conv_t(up.view(-1, self.c4), self.w2, self.b2, prep.s0, batch)
        up = gelu_(up.view(batch, -1, self.c8))  # (B, N*16, C/8)
        masks = hyper @ up.transpose(1, 2)  # (B, m, N*16)
        m = masks.shape[1]
        masks = (
            masks.view(batch, m, g, g, 2, 2, 2, 2)
            .permute(0, 1, 2, 4, 6, 3, 5, 7)
            .reshape(batch, m, 4 * g, 4 * g)
        )
        if not multimask and len(picked) > 1:
            masks, scores = self._pick_stable(masks, scores)
        return masks, scores

    @staticmethod
    def _conv_t(
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        extra: torch.Tensor | None,
        batch: int,
    ) -> torch.Tensor:
        """A 2x2-stride-2 transposed conv as (rows, C_in) @ (C_in, 4 C_out) + bias, or,
        for SAM 2, + `extra`: a feature map (with the bias folded in) in blocked order."""
        if extra is None:
            return torch.addmm(bias, x, weight)
        if batch == 1:
            return torch.addmm(extra, x, weight)
        return torch.mm(x, weight).view(batch, *extra.shape).add_(extra)

    def _pick_stable(
        self, masks: torch.Tensor, scores: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """SAM 2 single-mask output: token 0 if stable, else the best of tokens 1-3.

        masks (B, 4, H, W), scores (B, 4) -> (B, 1, H, W), (B, 1).
        """
        dec = self.decoder
        delta = dec.dynamic_multimask_stability_delta
        single = masks[:, 0].flatten(1)
        inter = (single > delta).sum(-1).float()
        union = (single > -delta).sum(-1).float()
        stability = torch.where(union > 0, inter / union.clamp(min=1), 1.0)
        stable = stability >= dec.dynamic_multimask_stability_thresh  # (B,)
        best = scores[:, 1:].argmax(-1) + 1
        choice = torch.where(stable, torch.zeros_like(best), best)
        rows = torch.arange(masks.shape[0], device=masks.device)
        return masks[rows, choice][:, None], scores[rows, choice][:, None]


def gelu_(t: torch.Tensor) -> torch.Tensor:
    """Exact (erf) GELU in place: saves allocating another image-sized tensor."""
    return torch.ops.aten.gelu_(t)


def _softmax(t: torch.Tensor, dim: int) -> torch.Tensor:
    # Accumulate in float32 under bf16 (GPU), as transformers' attention does.
    if t.dtype in (torch.float16, torch.bfloat16):
        return torch.softmax(t, dim, dtype=torch.float32).to(t.dtype)
    return torch.softmax(t, dim)
