"""DeepLabV3+ with squeeze-and-excitation blocks, built from Keras built-in layers only.

Built-in layers only, so the saved file loads with plain `keras.saving.load_model()` in a process
that never imports this package (the web service).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np
from keras import layers

from training.config import ENCODERS, MOBILENET_BLOCKS, ModelConfig

OUTPUT_STRIDE = 16
# The head normalises with GroupNormalization, not BatchNormalization: with batches of 16 on a CPU,
# BN's moving statistics disagreed with the batch statistics it trained with (worst in the
# image-pooling branch, whose batch holds just 16 pooled vectors), and inference-mode output
# collapsed: validation IoU 0.0, then 0.83, then 0.14 while training IoU rose steadily. GroupNorm
# computes the same statistics in training and inference.
GN_GROUPS = 8
# BN momentum for an encoder trained from scratch (its BN layers stay: they are keras.applications').
BN_MOMENTUM = 0.9

# Skip-connection taps of each encoder: (stride 4, stride 16).
ENCODER_TAPS: dict[str, tuple[str, str]] = {
    "mobilenetv2": ("block_3_expand_relu", "block_13_expand_relu"),
    "resnet50": ("conv2_block3_out", "conv4_block6_out"),
}

# MobileNetV2's blocks after the stride-16 tap: (block, output channels, residual). With
# ModelConfig.mobilenet_blocks 16 they run at stride 16 (block 13's stride 2 becomes a dilation of 2, as
# DeepLab does for its output stride 16) and feed the ASPP a context branch of 320 channels.
DEEP_BLOCKS = ((13, 160, False), (14, 160, True), (15, 160, True), (16, 320, False))
DEEP_DILATION = 2
EXPANSION = 6  # MobileNetV2's expansion factor
# Layers of the deep encoder and its ASPP branch are named with these prefixes; a network started from a
# model without them (training.train --init-from) keeps them as built.
DEEP_PREFIXES = ("deep_", "aspp_deep")
DEEP_PROJECTION = "aspp_deep_project"  # the deep branch's last layer; at zero the branch adds nothing
# The layers a network grown from another (more outputs, the deep blocks) may have that its source lacks.
GROWN_PREFIXES = ("logits", "everyone", *DEEP_PREFIXES)

# ImageNet caffe-style preprocessing of keras.applications.resnet50: RGB -> BGR, minus the mean.
_RESNET_BGR_MEAN = (103.939, 116.779, 123.68)


# The channels of a two-output network, in order (model.segmenter reads them by these names).
OUTPUTS = ("subject", "everyone")


def build_deeplabv3plus(config: ModelConfig, input_size: int | None = None) -> keras.Model:
    """Build the network: RGB 0..255 in, sigmoid probabilities out: with `config.outputs` 2, channel 0 the
    subject (the people the photo is about) and channel 1 everyone (every person), never below the subject;
    with 1, one person probability.

    Args:
        config: encoder, encoder weights (`none`, `imagenet` or a weights-file path), head width.
        input_size: square input side (a multiple of 16), or None for any size divisible by 16.
    """
    _validate(config, input_size)
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    low, high, deep = _encoder(config, inputs)
    x = _aspp(high, config.head_filters, deep)
    x = _squeeze_excite(x, config.se_ratio, name="aspp_se")
    x = _decoder(x, low, config)
    x = _logits(x, config.outputs)
    x = layers.UpSampling2D(4, interpolation="bilinear", name="logits_upsample")(x)
    # float32 output even under mixed precision: the loss and thresholds work in float32.
    outputs = layers.Activation("sigmoid", dtype="float32", name="mask")(x)
    return keras.Model(inputs, outputs, name=f"deeplabv3plus_{config.encoder}")


def _logits(x, outputs: int):
    """The logits: one channel, or the subject's and everyone's from the same features. Everyone's is the
    larger of its own and the subject's (the sigmoid keeps the order), so the everyone output never marks
    less than the subject: whoever the photo is about is a person."""
    subject = layers.Conv2D(1, 1, name="logits")(x)
    if outputs == 1:
        return subject
    everyone = layers.Conv2D(1, 1, name="logits_everyone")(x)
    everyone = layers.Maximum(name="everyone_at_least_subject")([subject, everyone])
    return layers.Concatenate(name="logits_both")([subject, everyone])


def _validate(config: ModelConfig, input_size: int | None) -> None:
    if config.encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}, got {config.encoder!r}")
    if input_size is not None and (input_size < 32 or input_size % OUTPUT_STRIDE):
        raise ValueError(f"input_size must be a multiple of {OUTPUT_STRIDE} and >= 32, got {input_size}")
    if config.outputs not in (1, len(OUTPUTS)):
        raise ValueError(f"outputs must be 1 or {len(OUTPUTS)}, got {config.outputs}")
    if config.mobilenet_blocks not in MOBILENET_BLOCKS:
        raise ValueError(f"mobilenet_blocks must be one of {MOBILENET_BLOCKS}, got {config.mobilenet_blocks}")
    if config.mobilenet_blocks != MOBILENET_BLOCKS[0] and config.encoder != "mobilenetv2":
        raise ValueError("mobilenet_blocks applies to the mobilenetv2 encoder only")
    if config.head_filters < GN_GROUPS or config.head_filters % GN_GROUPS:
        raise ValueError(f"head_filters must be a multiple of {GN_GROUPS}, got {config.head_filters}")
    weights = config.encoder_weights
    if weights not in ("none", "imagenet") and not Path(weights).is_file():
        raise ValueError(f"encoder_weights must be 'none', 'imagenet' or an existing file, got {weights!r}")


def _encoder(config: ModelConfig, inputs: keras.KerasTensor
             ) -> tuple[keras.KerasTensor, keras.KerasTensor, keras.KerasTensor | None]:
    """Preprocess inside the graph and return the stride-4 and stride-16 features, and MobileNetV2's deep
    blocks' features (stride 16) where `config.mobilenet_blocks` asks for them (else None)."""
    if config.encoder == "mobilenetv2":
        x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(inputs)
        factory = keras.applications.MobileNetV2
        kwargs = {"alpha": 1.0}
    else:
        x = _caffe_preprocess(inputs)
        factory = keras.applications.ResNet50
        kwargs = {}
    base = _load_backbone(factory, config.encoder_weights, kwargs)
    pretrained = config.encoder_weights != "none"
    _settle_batch_norm(base.layers, pretrained)
    low_name, high_name = ENCODER_TAPS[config.encoder]
    # A sub-model up to the stride-16 tap: the layers after it are not part of the network.
    taps = keras.Model(base.input, [base.get_layer(low_name).output, base.get_layer(high_name).output],
                       name=f"{config.encoder}_encoder")
    low, high = taps(x)
    deep = None
    if config.mobilenet_blocks > MOBILENET_BLOCKS[0]:
        deep = _deep_blocks(high, base, pretrained)
    return low, high, deep


def _deep_blocks(x, base: keras.Model, pretrained: bool):
    """MobileNetV2's blocks 13-16 after block 13's expansion `x`, at stride 16: the depthwise convolutions
    dilated instead of block 13's stride 2. Each layer is named `deep_` + its keras.applications name and,
    with `pretrained`, starts from that layer's weights in `base` (a depthwise kernel is the same whatever its
    dilation); batch normalisation as the encoder's (`_settle_batch_norm`)."""

    built: list[layers.Layer] = []

    def add(layer: layers.Layer, tensor):
        out = layer(tensor)
        if pretrained:
            layer.set_weights(base.get_layer(layer.name.removeprefix("deep_")).get_weights())
        built.append(layer)
        return out

    def batch_norm(name: str) -> layers.BatchNormalization:
        return layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=name)  # keras.applications' own

    for block, filters, residual in DEEP_BLOCKS:
        name = f"deep_block_{block}"
        shortcut = x
        if block != DEEP_BLOCKS[0][0]:  # block 13's expansion is the stride-16 tap itself
            x = add(layers.Conv2D(EXPANSION * x.shape[-1], 1, use_bias=False, name=f"{name}_expand"), x)
            x = add(batch_norm(f"{name}_expand_BN"), x)
            x = layers.ReLU(6.0, name=f"{name}_expand_relu")(x)
        x = add(layers.DepthwiseConv2D(3, padding="same", dilation_rate=DEEP_DILATION, use_bias=False,
                                       name=f"{name}_depthwise"), x)
        x = add(batch_norm(f"{name}_depthwise_BN"), x)
        x = layers.ReLU(6.0, name=f"{name}_depthwise_relu")(x)
        x = add(layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project"), x)
        x = add(batch_norm(f"{name}_project_BN"), x)
        if residual:
            x = layers.Add(name=f"{name}_add")([shortcut, x])
    _settle_batch_norm(built, pretrained)
    return x


def _load_backbone(factory, weights: str, kwargs: dict) -> keras.Model:
    init = None if weights == "none" else weights
    try:
        return factory(input_shape=(None, None, 3), include_top=False, weights=init, **kwargs)
    except Exception as error:  # Keras raises several types for a failed download
        if weights == "imagenet":
            raise RuntimeError(
                "could not download the ImageNet encoder weights (no internet here?): pass "
                "--encoder-weights PATH to a local weights file, or --encoder-weights none"
            ) from error
        raise


def _settle_batch_norm(encoder_layers: Iterable[layers.Layer], pretrained: bool) -> None:
    """Keep the encoder's batch statistics consistent between training and inference.

    keras.applications builds its BatchNormalization layers with momentum 0.999, whose moving
    statistics lag far behind fine-tuned features. A pretrained encoder keeps its BN frozen
    (inference mode, ImageNet statistics); one trained from scratch gets BN_MOMENTUM.
    """
    for layer in encoder_layers:
        if isinstance(layer, layers.BatchNormalization):
            if pretrained:
                layer.trainable = False
            else:
                layer.momentum = BN_MOMENTUM


def _caffe_preprocess(inputs: keras.KerasTensor) -> keras.KerasTensor:
    """RGB -> BGR minus the ImageNet mean, as a frozen 1x1 convolution (a built-in layer)."""
    conv = layers.Conv2D(3, 1, name="preprocess", trainable=False)
    x = conv(inputs)
    permute = np.zeros((1, 1, 3, 3), dtype="float32")
    for out_channel, in_channel in enumerate((2, 1, 0)):
        permute[0, 0, in_channel, out_channel] = 1.0
    conv.set_weights([permute, -np.asarray(_RESNET_BGR_MEAN, dtype="float32")])
    return x


def _conv_norm_relu(x, filters: int, kernel: int, name: str, dilation: int = 1, separable: bool = False):
    if separable and kernel > 1:
        x = layers.DepthwiseConv2D(kernel, padding="same", dilation_rate=dilation, use_bias=False,
                                   name=f"{name}_depthwise")(x)
        x = layers.GroupNormalization(GN_GROUPS, name=f"{name}_depthwise_gn")(x)
        x = layers.ReLU(name=f"{name}_depthwise_relu")(x)
        kernel, dilation = 1, 1
    x = layers.Conv2D(filters, kernel, padding="same", dilation_rate=dilation, use_bias=False, name=name)(x)
    x = layers.GroupNormalization(GN_GROUPS, name=f"{name}_gn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _aspp(x, filters: int, deep=None):
    """Atrous spatial pyramid pooling: 1x1, three 3x3 atrous (rates 6/12/18) and image pooling, and a 1x1
    branch of the deep blocks' features `deep` where there are any.

    The image-pooling branch is spatially constant, so its share of the 1x1 projection is added as a
    broadcast bias instead of being upsampled and concatenated: the same maths, and no layer is sized
    from one fixed input size. The deep branch's share is added too, through a projection that starts at
    zero: a network grown from one without it starts as that network (training.train --init-from).
    """
    branches = [_conv_norm_relu(x, filters, 1, name="aspp_1x1")]
    for rate in (6, 12, 18):
        branches.append(_conv_norm_relu(x, filters, 3, name=f"aspp_rate{rate}", dilation=rate, separable=True))
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name="aspp_pool")(x)
    # One vector per image: nothing to normalise over, so a biased convolution instead.
    pooled = layers.Conv2D(filters, 1, activation="relu", name="aspp_pool_conv")(pooled)
    pooled = layers.Conv2D(filters, 1, use_bias=False, name="aspp_project_pool")(pooled)
    x = layers.Concatenate(name="aspp_concat")(branches)
    x = layers.Conv2D(filters, 1, use_bias=False, name="aspp_project")(x)
    if deep is not None:
        deep = _conv_norm_relu(deep, filters, 1, name="aspp_deep")
        deep = layers.Conv2D(filters, 1, use_bias=False, kernel_initializer="zeros", name=DEEP_PROJECTION)(deep)
        x = layers.Add(name="aspp_add_deep")([x, deep])
    x = layers.Add(name="aspp_add_pool")([x, pooled])
    x = layers.GroupNormalization(GN_GROUPS, name="aspp_project_gn")(x)
    x = layers.ReLU(name="aspp_project_relu")(x)
    return layers.Dropout(0.1, name="aspp_dropout")(x)


def _squeeze_excite(x, ratio: int, name: str):
    """Channel attention (Hu et al., 2018): global pool, bottleneck, sigmoid gate."""
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = layers.Conv2D(max(channels // ratio, 4), 1, activation="relu", name=f"{name}_reduce")(s)
    s = layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_expand")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


def _decoder(x, low, config: ModelConfig):
    """Upsample the ASPP output x4 and fuse it with the stride-4 features."""
    filters = config.head_filters
    x = layers.UpSampling2D(OUTPUT_STRIDE // 4, interpolation="bilinear", name="decoder_upsample")(x)
    low = _conv_norm_relu(low, 48, 1, name="decoder_low")
    x = layers.Concatenate(name="decoder_concat")([x, low])
    x = _conv_norm_relu(x, filters, 3, name="decoder_conv1", separable=True)
    x = _conv_norm_relu(x, filters, 3, name="decoder_conv2", separable=True)
    return _squeeze_excite(x, config.se_ratio, name="decoder_se")


def transplant(model: keras.Model, source: keras.Model) -> list[str]:
    """Start `model` from the weights of `source`, a network of another number of outputs or one without the
    deep blocks: every layer whose name and weight shapes match takes the source's weights, and the everyone
    logits of a two-output head that the source lacks start as the subject's (so both outputs start where
    the one-output network was). Returns the names of the layers with weights that stay as built."""
    donors = {layer.name: layer for layer in source.layers}
    fresh = []
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        donor = donors.get(layer.name)
        if donor is None and layer.name == "logits_everyone":
            donor = donors.get("logits")
        donated = donor.get_weights() if donor is not None else []
        if [w.shape for w in donated] == [w.shape for w in weights]:
            layer.set_weights(donated)
        else:
            fresh.append(layer.name)
    return fresh


def grows_from(model: keras.Model, source: keras.Model) -> bool:
    """Whether `model` differs from `source` as a network grown from it does (another number of outputs, or
    MobileNetV2's deep blocks that `source` lacks), so that `grow` and not a plain weight load starts it."""
    names = {layer.name for layer in source.layers}
    return source.output.shape[-1] != model.output.shape[-1] or any(
        layer.name not in names for layer in model.layers if layer.name.startswith(DEEP_PREFIXES))


def grow(model: keras.Model, source: keras.Model) -> list[str]:
    """Start `model` as the grown network `source` starts (`transplant`), the deep branch's projection at zero
    so that the branch adds nothing; returns the layers that keep their own weights. Raises ValueError where a
    layer other than those growing adds (GROWN_PREFIXES) finds no weights of its shapes in `source`."""
    fresh = transplant(model, source)
    if unlike := [name for name in fresh if not name.startswith(GROWN_PREFIXES)]:
        raise ValueError(f"different architectures: {', '.join(unlike)} find no weights of their shapes")
    if DEEP_PROJECTION in fresh:
        projection = model.get_layer(DEEP_PROJECTION)
        projection.set_weights([np.zeros_like(w) for w in projection.get_weights()])
    return fresh
