"""Dynamic masked-LM masking, token-level or whole word, in-graph.

Semantics follow google-research/bert `create_pretraining_data.py`
(`create_masked_lm_predictions`), applied on the fly (RoBERTa's dynamic masking: a new mask
each time an example is seen) instead of once when the data is written:

- candidates are all tokens except the unselectable ones (`[CLS]`, `[SEP]`, `[PAD]`, and
  any other id in `unselectable_token_ids`);
- the number of predictions is `min(max_predictions_per_seq, max(1, round(rate * n)))` where
  `n` is the number of candidates (the reference counts `[CLS]`/`[SEP]` in `n` too; we do not,
  so that 15% means 15% of the real tokens);
- candidates (words, with `whole_word=True`: a piece and the `##` pieces that follow it) are
  visited in random order and taken while they fit in the budget; like the reference, a
  word that would overshoot is skipped and later, shorter words still fill the budget
  (two passes here instead of the reference's open-ended loop);
- each chosen token independently becomes `[MASK]` (80%), a random token (10%) or stays
  (10%). Random tokens are drawn uniformly from the real vocabulary entries: every token
  except the bracketed ones (`[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`, `[unused..]`);
  the reference draws from the whole vocabulary.

Outputs are padded to `max_predictions_per_seq`: `mask_positions` (int32, ascending, 0 on
padding), `mask_ids` (int32, the original ids, 0 on padding) and `mask_weights` (float32,
1.0 on real predictions).
"""

import re

import keras

from keras_bert_impl.text._base import TextLayer
from keras_bert_impl.text.tokenizer import SPECIAL_TOKENS, load_vocabulary

_BRACKETED = re.compile(r"^\[[^\]]*\]$")


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class MaskedLMMasker(TextLayer):
    """Selects and corrupts tokens for masked language modelling (dynamic masking).

    Call it on `token_ids` (int, `[batch, seq]` or `[seq]`, e.g. a `BertPacker` output's
    `"token_ids"`) and get a dict with the corrupted `token_ids` and `mask_positions`,
    `mask_ids`, `mask_weights` (see the module docstring). Each call draws a new mask from
    an internal generator seeded by `seed`; pass `seed=` (a shape-`[2]` int tensor) to the
    call for stateless, reproducible masks (what `make_pretraining_dataset` does per
    example).

    Args:
        vocabulary: the tokenizer's vocabulary (`vocab.txt` path or token list); gives the
            `[MASK]` id, the unselectable specials, the random-replacement pool and, for
            whole word masking, which pieces continue a word (`##...`).
        mask_selection_rate: fraction of candidate tokens to predict (0.15).
        max_predictions_per_seq: cap on predictions per sequence, and the output width.
        mask_token_rate: of the chosen tokens, the fraction replaced by `[MASK]` (0.8).
        random_token_rate: the fraction replaced by a random token (0.1); the rest stay.
        whole_word: select whole words (all pieces of a word together), keeping the rate
            in tokens.
        unselectable_token_ids: ids never selected, in addition to the five specials.
        suffix_indicator: prefix of word-continuation pieces.
        seed: seed of the internal generator.

    Example:

    ```python
    import tensorflow as tf
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(20)]
    masker = MaskedLMMasker(vocab, max_predictions_per_seq=4, seed=1)
    out = masker(tf.constant([[2, 5, 6, 7, 8, 9, 10, 3, 0, 0]]))
    out["mask_positions"].shape  # (1, 4)
    out["mask_weights"].numpy()  # [[1., 0., 0., 0.]]: round(0.15 * 6) = 1 prediction
    ```
    """

    def __init__(self, vocabulary, mask_selection_rate=0.15, max_predictions_per_seq=20,
                 mask_token_rate=0.8, random_token_rate=0.1, whole_word=False,
                 unselectable_token_ids=(), suffix_indicator="##", seed=None, **kwargs):
        import tensorflow as tf

        super().__init__(**kwargs)
        if not 0.0 < mask_selection_rate <= 1.0:
            raise ValueError(f"mask_selection_rate must be in (0, 1]; got {mask_selection_rate}.")
        if not isinstance(max_predictions_per_seq, int) or max_predictions_per_seq < 1:
            raise ValueError("max_predictions_per_seq must be a positive int; got "
                             f"{max_predictions_per_seq!r}.")
        if mask_token_rate < 0 or random_token_rate < 0 or mask_token_rate + random_token_rate > 1:
            raise ValueError("mask_token_rate and random_token_rate must be >= 0 and sum to at "
                             f"most 1; got {mask_token_rate} and {random_token_rate}.")
        self.vocabulary = load_vocabulary(vocabulary)
        missing = [t for t in SPECIAL_TOKENS if t not in self.vocabulary]
        if missing:
            raise ValueError(f"the vocabulary lacks the special token(s) {missing}.")
        index = {t: i for i, t in enumerate(self.vocabulary)}
        self.mask_selection_rate = float(mask_selection_rate)
        self.max_predictions_per_seq = max_predictions_per_seq
        self.mask_token_rate = float(mask_token_rate)
        self.random_token_rate = float(random_token_rate)
        self.whole_word = bool(whole_word)
        self.unselectable_token_ids = [int(i) for i in unselectable_token_ids]
        self.suffix_indicator = suffix_indicator
        self.seed = seed
        self.mask_token_id = index["[MASK]"]
        unselectable = sorted({index[t] for t in ("[PAD]", "[CLS]", "[SEP]")}
                              | set(self.unselectable_token_ids))
        pool = [i for i, t in enumerate(self.vocabulary) if not _BRACKETED.match(t)]
        if not pool:
            raise ValueError("the vocabulary has no real (non-bracketed) tokens to draw random "
                             "replacements from.")
        size = len(self.vocabulary)
        continuation = [bool(suffix_indicator) and t.startswith(suffix_indicator)
                        and len(t) > len(suffix_indicator) for t in self.vocabulary]
        selectable = [True] * size
        for i in unselectable:
            if 0 <= i < size:
                selectable[i] = False
        with tf.init_scope():
            self._selectable = tf.constant(selectable)
            self._continuation = tf.constant(continuation)
            self._random_pool = tf.constant(pool, tf.int32)
            self._generator = (tf.random.Generator.from_seed(seed) if seed is not None
                               else tf.random.Generator.from_non_deterministic_state())

    def call(self, inputs, seed=None):
        import tensorflow as tf

        token_ids = inputs["token_ids"] if isinstance(inputs, dict) else inputs
        token_ids = tf.convert_to_tensor(token_ids)
        if not token_ids.dtype.is_integer:
            raise TypeError(
                f"MaskedLMMasker expects integer token ids; got {token_ids.dtype.name}."
            )
        unbatched = token_ids.shape.rank == 1
        if token_ids.shape.rank not in (1, 2):
            raise ValueError(f"MaskedLMMasker takes [seq] or [batch, seq] dense token ids; got "
                             f"shape {token_ids.shape} (pack ragged ids with BertPacker first).")
        if unbatched:
            token_ids = token_ids[tf.newaxis]
        token_ids = tf.cast(token_ids, tf.int32)
        if seed is None:
            seed = self._generator.make_seeds(1)[:, 0]
        seeds = tf.random.split(tf.cast(seed, tf.int64), 4)
        out = self._mask(token_ids, seeds)
        if unbatched:
            out = {k: v[0] for k, v in out.items()}
        return out

    def _mask(self, token_ids, seeds):
        import tensorflow as tf

        batch, length = tf.shape(token_ids)[0], tf.shape(token_ids)[1]
        size = tf.shape(self._selectable)[0]
        in_vocab = (token_ids >= 0) & (token_ids < size)
        safe = tf.where(in_vocab, token_ids, 0)
        selectable = tf.gather(self._selectable, safe) & in_vocab
        # Word starts: a selectable piece that does not continue the previous selectable one.
        if self.whole_word:
            continues = tf.gather(self._continuation, safe)
            previous = tf.pad(selectable[:, :-1], [[0, 0], [1, 0]])
            starts = selectable & ~(continues & previous)
        else:
            starts = selectable
        word_of = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1  # word index per position
        # Words are indexed per row up to `length`; a word's size = its selectable tokens.
        word_of = tf.where(selectable, word_of, length)  # non-selectable -> overflow bucket
        row = tf.range(batch)[:, tf.newaxis] + tf.zeros_like(word_of)
        word_len = tf.scatter_nd(tf.stack([row, word_of], -1), tf.cast(selectable, tf.int32),
                                 [batch, length + 1])[:, :length]
        num_candidates = tf.reduce_sum(tf.cast(selectable, tf.int32), axis=1)
        budget = tf.cast(tf.round(tf.cast(num_candidates, tf.float32) * self.mask_selection_rate),
                         tf.int32)
        budget = tf.minimum(self.max_predictions_per_seq, tf.maximum(budget, 1))
        budget = tf.where(num_candidates > 0, budget, 0)
        # Random word order; empty word slots go last.
        keys = tf.random.stateless_uniform([batch, length], seeds[0])
        keys = tf.where(word_len > 0, keys, 2.0)
        order = tf.argsort(keys, axis=1, stable=True)
        lengths = tf.gather(word_len, order, batch_dims=1)
        taken = tf.zeros_like(lengths, tf.bool)
        used = tf.zeros([batch], tf.int32)
        for _ in range(2):  # take words in order while they fit; a second pass fills gaps
            left = budget - used
            fits = (~taken) & (lengths > 0) & (lengths <= left[:, tf.newaxis])
            running = tf.cumsum(tf.where(fits, lengths, 0), axis=1)
            new = fits & (running <= left[:, tf.newaxis])
            taken = taken | new
            used = used + tf.reduce_sum(tf.where(new, lengths, 0), axis=1)
        word_taken = tf.scatter_nd(
            tf.stack([tf.range(batch)[:, tf.newaxis] + tf.zeros_like(order), order], -1),
            taken, [batch, length])
        chosen = selectable & tf.gather(tf.pad(word_taken, [[0, 0], [0, 1]]), word_of,
                                        batch_dims=1)
        # mask_positions: ascending positions of the chosen tokens, padded with 0.
        width = self.max_predictions_per_seq
        positions = tf.ragged.boolean_mask(
            tf.range(length)[tf.newaxis] + tf.zeros_like(token_ids), chosen)
        mask_positions = positions.to_tensor(0, shape=[None, width])
        mask_weights = tf.cast(tf.sequence_mask(positions.row_lengths(), width), tf.float32)
        mask_ids = tf.gather(token_ids, mask_positions, batch_dims=1)
        mask_ids = tf.where(mask_weights > 0, mask_ids, 0)
        # 80% [MASK], 10% random real token, 10% unchanged, per chosen token.
        u = tf.random.stateless_uniform([batch, length], seeds[1])
        random_ids = tf.gather(self._random_pool, tf.random.stateless_uniform(
            [batch, length], seeds[2], maxval=tf.size(self._random_pool), dtype=tf.int32))
        corrupted = tf.where(u < self.mask_token_rate, self.mask_token_id,
                             tf.where(u < self.mask_token_rate + self.random_token_rate,
                                      random_ids, token_ids))
        return {
            "token_ids": tf.where(chosen, corrupted, token_ids),
            "mask_positions": mask_positions,
            "mask_ids": mask_ids,
            "mask_weights": mask_weights,
        }

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary": list(self.vocabulary),
            "mask_selection_rate": self.mask_selection_rate,
            "max_predictions_per_seq": self.max_predictions_per_seq,
            "mask_token_rate": self.mask_token_rate,
            "random_token_rate": self.random_token_rate,
            "whole_word": self.whole_word,
            "unselectable_token_ids": self.unselectable_token_ids,
            "suffix_indicator": self.suffix_indicator,
            "seed": self.seed,
        })
        return config
