"""The architectures of docs/variants.md as layer lists (data, not framework code)."""

from __future__ import annotations

from collections.abc import Callable

from bench.spec import (
    Arch,
    Layer,
    Network,
    act,
    bn,
    conv,
    convt,
    dense,
    dropout,
    flatten,
    lrelu,
    maxpool,
    reshape,
    upsample,
)


def mlp(d_out: int = 1, g_in: int = 96, critic_bn: bool = True) -> Arch:
    g = (
        dense("fc1", 1024),
        act("relu"),
        dense("fc2", 1024),
        act("relu"),
        dense("fc3", 784),
        act("tanh"),
        reshape(28, 28, 1),
    )
    d = (flatten(), dense("fc1", 256), lrelu(0.2), dense("fc2", 256), lrelu(0.2), dense("fc3", d_out))
    return Arch(
        "mlp",
        Network("G", (g_in,), g),
        Network("D", (28, 28, 1), d),
        z_dim=96,
        noise="uniform",
        image_shape=(28, 28, 1),
        data_range=(-1.0, 1.0),
        init="fan_in_uniform",
    )


def dcgan28(d_out: int = 1, g_in: int = 100, critic_bn: bool = True) -> Arch:
    g = (
        dense("fc", 7 * 7 * 256, bias=False),
        bn("bn0"),
        lrelu(0.2),
        reshape(7, 7, 256),
        convt("deconv1", 128, 5, 1, bias=False),
        bn("bn1"),
        lrelu(0.2),
        convt("deconv2", 64, 5, 2, bias=False),
        bn("bn2"),
        lrelu(0.2),
        convt("deconv3", 1, 5, 2),
        act("tanh"),
    )
    d = (
        conv("conv1", 64, 5, 2),
        lrelu(0.2),
        dropout(0.3),
        conv("conv2", 128, 5, 2),
        lrelu(0.2),
        dropout(0.3),
        flatten(),
        dense("fc", d_out),
    )
    return Arch(
        "dcgan28",
        Network("G", (g_in,), g),
        Network("D", (28, 28, 1), d),
        z_dim=100,
        noise="normal",
        image_shape=(28, 28, 1),
        data_range=(-1.0, 1.0),
        init="dcgan",
    )


def upsample28(d_out: int = 1, g_in: int = 100, critic_bn: bool = True) -> Arch:
    g = (
        dense("fc", 7 * 7 * 64),
        bn("bn0"),
        lrelu(0.2),
        reshape(7, 7, 64),
        upsample(2),
        convt("deconv1", 64, 3, 1),
        bn("bn1"),
        lrelu(0.2),
        upsample(2),
        convt("deconv2", 1, 3, 1),
        act("sigmoid"),
    )
    d = (
        conv("conv1", 64, 3, 1),
        bn("bn1"),
        lrelu(0.2),
        maxpool(2),
        conv("conv2", 64, 3, 1),
        bn("bn2"),
        lrelu(0.2),
        maxpool(2),
        flatten(),
        dense("fc1", 128),
        bn("bn3"),
        lrelu(0.2),
        dense("fc2", d_out),
    )
    return Arch(
        "upsample28",
        Network("G", (g_in,), g),
        Network("D", (28, 28, 1), d),
        z_dim=100,
        noise="uniform",
        image_shape=(28, 28, 1),
        data_range=(0.0, 1.0),
        init="dcgan",
        n_classes=g_in - 100,
    )


def dcgan32(d_out: int = 1, g_in: int = 100, critic_bn: bool = True) -> Arch:
    g = (
        dense("fc", 8 * 8 * 128),
        reshape(8, 8, 128),
        bn("bn0"),
        act("relu"),
        convt("deconv1", 256, 5, 2),
        bn("bn1"),
        act("relu"),
        convt("deconv2", 256, 5, 2),
        bn("bn2"),
        act("relu"),
        convt("deconv3", 256, 5, 1),
        bn("bn3"),
        act("relu"),
        convt("deconv4", 3, 7, 1),
        act("tanh"),
    )
    d = (
        conv("conv1", 64, 5, 2),
        lrelu(0.2),
        conv("conv2", 128, 5, 2),
        bn("bn2"),
        lrelu(0.2),
        conv("conv3", 256, 5, 1),
        bn("bn3"),
        lrelu(0.1),
        flatten(),
        dense("fc", d_out),
    )
    return Arch(
        "dcgan32",
        Network("G", (g_in,), g),
        Network("D", (32, 32, 3), d),
        z_dim=100,
        noise="normal",
        image_shape=(32, 32, 3),
        data_range=(-1.0, 1.0),
        init="dcgan",
    )


def dcgan64(d_out: int = 1, g_in: int = 100, critic_bn: bool = True) -> Arch:
    g = (
        dense("fc", 3 * 3 * 512),
        reshape(3, 3, 512),
        lrelu(0.2),
        convt("deconv1", 256, 3, 3, "valid"),
        bn("bn1"),
        lrelu(0.2),
        convt("deconv2", 128, 5, 2, "valid"),
        bn("bn2"),
        lrelu(0.2),
        convt("deconv3", 3, 4, 3, "valid"),
        act("tanh"),
    )
    d: tuple[Layer, ...] = (
        conv("conv1", 64, 5, 3, "valid"),
        lrelu(0.2),
        conv("conv2", 128, 5, 3, "valid"),
        *((bn("bn2"),) if critic_bn else ()),
        lrelu(0.2),
        conv("conv3", 256, 5, 3, "valid"),
        *((bn("bn3"),) if critic_bn else ()),
        lrelu(0.2),
        flatten(),
        dense("fc", d_out),
    )
    return Arch(
        "dcgan64",
        Network("G", (g_in,), g),
        Network("D", (64, 64, 3), d),
        z_dim=100,
        noise="normal",
        image_shape=(64, 64, 3),
        data_range=(-1.0, 1.0),
        init="dcgan",
    )


ARCHS: dict[str, Callable[..., Arch]] = {
    "mlp": mlp,
    "dcgan28": dcgan28,
    "upsample28": upsample28,
    "dcgan32": dcgan32,
    "dcgan64": dcgan64,
}


def build_arch(name: str, d_out: int = 1, n_classes: int = 0, critic_bn: bool = True) -> Arch:
    """The architecture `name` with D's output width and G's label input (cgan) applied."""
    if name not in ARCHS:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(ARCHS)}")
    base = ARCHS[name]()
    return ARCHS[name](d_out=d_out, g_in=base.z_dim + n_classes, critic_bn=critic_bn)


def output_shape(net: Network) -> tuple[int, ...]:
    """Shape after the last layer, by TensorFlow's padding rules (used for checks and FLOPs)."""
    shape = tuple(net.input_shape)
    for layer in net.layers:
        shape = layer_output_shape(layer, shape)
    return shape


def layer_output_shape(layer: Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    k, s = layer.kernel, layer.stride
    if layer.kind == "dense":
        return (layer.units,)
    if layer.kind == "flatten":
        n = 1
        for d in shape:
            n *= d
        return (n,)
    if layer.kind == "reshape":
        return tuple(layer.shape)
    if layer.kind in ("conv", "convt"):
        h, w, _ = shape
        return (*(_conv_len(layer, n) for n in (h, w)), layer.units)
    if layer.kind in ("upsample",):
        return (shape[0] * s, shape[1] * s, shape[2])
    if layer.kind == "maxpool":
        return (shape[0] // k, shape[1] // k, shape[2])
    return shape


def _conv_len(layer: Layer, n: int) -> int:
    k, s = layer.kernel, layer.stride
    if layer.kind == "conv":
        return -(-n // s) if layer.padding == "same" else (n - k) // s + 1
    return n * s if layer.padding == "same" else n * s + max(k - s, 0)
