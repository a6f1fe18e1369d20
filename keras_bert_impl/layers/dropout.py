"""`Dropout`: Keras' dropout drawing one random number for every two elements (a hash of the
element's index under XLA).

Dropout's cost is its random numbers. Keras draws a float32 uniform per element; on a CPU the
draw is about three quarters of the layer's time (TensorFlow's Philox, a `[8, 12, 128, 128]`
attention-probability tensor: 10.2 of 13.4 ms of CPU time), and BERT-base drops about 38
million elements per training step at batch 8 x 128. `Dropout` draws one uniform `u` per *pair*
of elements and reads two decisions from its random bits: `u * 2048` splits into its integer
part (the high 11 bits) and its fraction (the low 12). Each backend's float32 uniform is a
random 23-bit mantissa times `2**-23` (a test checks it on each backend), so both parts are
exact, uniform and independent of each other.

Where XLA compiles the layer into its consumers (the JAX backend), the mask comes instead
from a hash of each element's index and the seed (`hashed_keep_mask`): a dozen integer
operations that XLA fuses into the kernel that applies the mask, where any generator's draw
(JAX's threefry) is computed ahead into memory. On an H100 (BERT-base train step, batch 128 x
128, bf16) that is 1.03x and 1.025x the paired draw in two runs (3,721 -> 3,814 sequences/s),
and dropout now costs 4% of the step (3,950 without any). The seed's two words are mixed
into one key once per mask (`seed_key`), so each element takes one finaliser round, ten
integer operations: mixing each word in per element, twice that, made the step 1.02x slower
on an H200 (5,218 against 5,345 sequences/s; seq 512: 884 -> 929 over two runs), the hash being
most of the arithmetic of the attention kernels (`pallas_attention`) that draw the mask in
place. On TensorFlow without XLA each operation is a pass of its own, so the single Philox
draw stays.

The drop probability is the rate rounded to 2048ths (BERT's 0.1: `205 / 2048 = 0.10009766`),
and kept values are scaled by the exact `1 / (1 - drop_probability)`, so the expected output
equals the input. Rates that 2048ths miss by more than 1% of the rate (those below 0.025 that
are not a multiple of 1/2048, and 1.0) take Keras' own per-element draw.
"""

import math

import keras
from keras import ops

from keras_bert_impl.layers.execution import fuses_ops

STEPS = 2048  # resolution of the drop probability: the high field's 11 bits
GOLDEN = 0x9E3779B9  # 2**32 / golden ratio: spreads consecutive indices over the 32 bits
# murmur3's fmix32: xor-shift and multiply twice (these pairs), then a last xor-shift by 16
FINALISER = ((16, 0x85EBCA6B), (13, 0xC2B2AE35))
ROUNDS = 1  # finaliser rounds per element (the key mixes the seed's two words once per mask)


def drop_steps(rate):
    """The drop probability in 2048ths that `Dropout` applies for `rate`, or `None` where
    2048ths miss `rate` by more than 1% of it (Keras' own draw applies).

    Example:

    ```python
    drop_steps(0.1)  # 205
    ```
    """
    steps = round(rate * STEPS)
    if not 0 < steps < STEPS or abs(steps / STEPS - rate) > 0.01 * rate:
        return None
    return steps


def paired_keep_mask(shape, steps, seed):
    """A boolean mask of `shape`, True with probability `1 - steps / 2048`, from one float32
    uniform draw per two elements along the last axis (`seed`: a `keras.random.SeedGenerator`
    or an int)."""
    last = shape[-1]
    uniform = keras.random.uniform(tuple(shape[:-1]) + ((last + 1) // 2,), seed=seed,
                                   dtype="float32")
    scaled = uniform * float(STEPS)
    high = ops.floor(scaled)  # 0 .. 2047
    low = scaled - high  # multiples of 1 / 4096 in [0, 1)
    keep = ops.concatenate([high >= float(steps), low >= steps / STEPS], axis=-1)
    return keep[..., :last]


def _xor_shift(bits, shift):
    return ops.bitwise_xor(bits, ops.right_shift(bits, ops.cast(shift, "uint32")))


def finalise(bits):
    """murmur3's 32-bit finaliser of uint32 `bits`: xor-shift and multiply twice, then a last
    xor-shift by 16 (a bijection in which every input bit flips each output bit about half
    the time)."""
    for shift, multiplier in FINALISER:
        bits = ops.multiply(_xor_shift(bits, shift), ops.cast(multiplier, "uint32"))
    return _xor_shift(bits, 16)


def seed_key(words):
    """The uint32 key of a seed's two uint32 words (a `SeedGenerator`'s state): each word
    mixed in and finalised, once per mask rather than once per element.

    Example:

    ```python
    import numpy as np
    int(seed_key(np.array([1, 2], "uint32"))) != int(seed_key(np.array([2, 1], "uint32")))  # True
    ```
    """
    words = ops.cast(words, "uint32")
    key = finalise(ops.multiply(words[1], ops.cast(GOLDEN, "uint32")))
    return finalise(ops.bitwise_xor(key, words[0]))


def hashed_keep_mask(shape, steps, seed):
    """A boolean mask of static `shape`, True with probability `1 - steps / 2048`: the high 11
    bits of a hash of each element's flat index and the key of `seed` (a
    `keras.random.SeedGenerator`; `seed_key`): `finalise((index ^ key) * GOLDEN)`, applied
    `ROUNDS` times. No random draw: under XLA the whole mask fuses into the operation that
    uses it.

    Example:

    ```python
    import keras
    keep = hashed_keep_mask((256, 512), 205, keras.random.SeedGenerator(0))
    bool(abs(1 - float(keras.ops.mean(keras.ops.cast(keep, "float32"))) - 0.1) < 0.005)  # True
    ```
    """
    key = seed_key(seed.next())
    bits = ops.reshape(ops.arange(math.prod(shape), dtype="uint32"), shape)
    for _ in range(ROUNDS):
        bits = finalise(ops.multiply(ops.bitwise_xor(bits, key), ops.cast(GOLDEN, "uint32")))
    return ops.greater_equal(bits, ops.cast(steps * 2**21, "uint32"))


def masks_fuse():
    """Whether the backend compiles the layer with XLA into its consumers (JAX:
    `execution.fuses_ops()`), where `hashed_keep_mask` costs almost nothing; elsewhere
    `paired_keep_mask` is cheaper."""
    return fuses_ops()


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class Dropout(keras.layers.Dropout):
    """Dropout with one random draw per two elements (on JAX, a hash of each element's index
    and the seed); Keras' `Dropout` otherwise.

    Same arguments, config and (absent) weights as `keras.layers.Dropout`, except
    `noise_shape` (not supported). While training it zeroes each element with probability
    `drop_probability` (the rate rounded to 2048ths) and scales the rest by
    `1 / (1 - drop_probability)`; at inference it returns its input.

    Example:

    ```python
    import numpy as np
    dropout = Dropout(0.1, seed=0)
    y = np.asarray(dropout(np.ones((64, 512), "float32"), training=True))
    dropout.drop_probability  # 0.10009765625
    bool(abs((y == 0).mean() - 0.1) < 0.01)  # True
    ```
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        if noise_shape is not None:
            raise ValueError(f"Dropout draws its mask for every element; got noise_shape="
                             f"{noise_shape}. Use keras.layers.Dropout for a shared mask.")
        super().__init__(rate, seed=seed, **kwargs)

    @property
    def drop_probability(self):
        """The probability with which each element is zeroed while training."""
        steps = drop_steps(self.rate)
        return self.rate if steps is None else steps / STEPS

    def call(self, inputs, training=False):
        steps = drop_steps(self.rate)
        if not training or steps is None:
            return super().call(inputs, training=training)
        shape = ops.shape(inputs)
        # uint32 indices: a tensor of 2**32 elements or more would repeat its mask
        hashed = masks_fuse() and math.prod(shape) < 2**32
        keep_mask = hashed_keep_mask if hashed else paired_keep_mask
        keep = keep_mask(shape, steps, self.seed_generator)
        scale = ops.cast(1.0 / (1.0 - steps / STEPS), inputs.dtype)
        return ops.where(keep, inputs * scale, ops.zeros((), inputs.dtype))
